"""--input parsing: KEY=VALUE pairs whose VALUE stays the text typed, read later by type.

How that text is read (by the input's declared type, or untyped) is in
``test_inputs_typed.py``.
"""

from __future__ import annotations

import json

import pytest

from task_runner.cli.common import parse_inputs
from task_runner.errors import UsageError
from task_runner.workflow.inputs import InputText


@pytest.mark.parametrize(
    "raw",
    ["777", "0777", "12:30", "true", "yes", "", "null", "[1, 2]", "'open", "a=b", " 7 "],
    ids=lambda raw: repr(raw),
)
def test_values_stay_the_text_as_typed(raw: str) -> None:
    value = parse_inputs([f"key={raw}"])["key"]
    assert isinstance(value, InputText)
    assert value == raw
    assert repr(value) == repr(raw)
    assert json.dumps(value) == json.dumps(raw)


@pytest.mark.parametrize("pair", ["project_id", "=777", " =1"])
def test_a_pair_without_key_or_equals_is_a_usage_error(pair: str) -> None:
    with pytest.raises(UsageError, match="is not KEY=VALUE"):
        parse_inputs([pair])


def test_keys_are_stripped_and_later_pairs_win() -> None:
    assert parse_inputs([" a =1", "a=2", "b=x"]) == {"a": "2", "b": "x"}
