"""--input parsing: YAML values, with dates and unreadable text kept as typed."""

from __future__ import annotations

from typing import Any

import pytest

from task_runner.cli.common import parse_inputs
from task_runner.errors import UsageError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("777", 777),
        ("true", True),
        ("1.5", 1.5),
        ("abc", "abc"),
        ("", ""),
        ("null", None),
        ("~", None),
        ("Null", "Null"),
        ("# note", "# note"),
        ("2024-01-01", "2024-01-01"),
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
        ("[1, 2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("'open", "'open"),
        ("a=b", "a=b"),
    ],
)
def test_values_are_yaml_scalars_or_the_text_as_typed(raw: str, expected: Any) -> None:
    value = parse_inputs([f"key={raw}"])["key"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("pair", ["project_id", "=777", " =1"])
def test_a_pair_without_key_or_equals_is_a_usage_error(pair: str) -> None:
    with pytest.raises(UsageError, match="is not KEY=VALUE"):
        parse_inputs([pair])


def test_keys_are_stripped_and_later_pairs_win() -> None:
    assert parse_inputs([" a =1", "a=2", "b=x"]) == {"a": 2, "b": "x"}
