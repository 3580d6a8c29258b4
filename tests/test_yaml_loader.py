"""The located YAML loader: locations, duplicate keys, anchors, dates kept as text."""

from __future__ import annotations

from pathlib import Path

import pytest

from task_runner.errors import LoadError, SourceLocation
from task_runner.workflow.yaml_loader import (
    LocatedDict,
    LocatedList,
    load_yaml_file,
    load_yaml_text,
    locate,
)

TEXT = """\
a:
  b: 1
  c:
    - x
    - {d: 2}
e: 2024-05-01
"""


def test_every_value_knows_its_location() -> None:
    data = load_yaml_text(TEXT, "wf.yaml")
    assert isinstance(data, LocatedDict) and isinstance(data["a"]["c"], LocatedList)
    assert locate(data, ["a", "b"]) == SourceLocation("wf.yaml", 2, 6)
    assert locate(data, ["a", "b"], key=True) == SourceLocation("wf.yaml", 2, 3)
    assert locate(data, ["a", "c", 1]) == SourceLocation("wf.yaml", 5, 7)
    assert locate(data, ["a", "c", 1, "d"]) == SourceLocation("wf.yaml", 5, 11)


def test_a_missing_path_points_at_the_deepest_known_place() -> None:
    data = load_yaml_text(TEXT, "wf.yaml")
    assert locate(data, ["a", "nope", "deeper"]) == SourceLocation("wf.yaml", 2, 3)
    assert locate(data, ["a", "c", 9]) == SourceLocation("wf.yaml", 4, 5)


def test_dates_stay_strings() -> None:
    assert load_yaml_text(TEXT)["e"] == "2024-05-01"
    assert load_yaml_text("t: 2024-05-01T06:00:00Z")["t"] == "2024-05-01T06:00:00Z"


def test_plain_containers_for_jsonschema_and_jinja() -> None:
    data = load_yaml_text(TEXT)
    assert data == {"a": {"b": 1, "c": ["x", {"d": 2}]}, "e": "2024-05-01"}
    assert isinstance(data, dict) and isinstance(data["a"]["c"], list)


def test_scalar_keys_become_strings() -> None:
    assert load_yaml_text("1: a\nnull: c\n2.5: d\n") == {"1": "a", "none": "c", "2.5": "d"}


def test_one_and_true_are_different_keys() -> None:
    assert load_yaml_text("1: a\ntrue: b\n") == {"1": "a", "true": "b"}


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first defined at line 1)"),
        ("x:\n  a: 1\n  a: 2\n", 3, 3, "duplicate key 'a'"),
        ("x: [1\n", 1, 4, "YAML syntax error: while parsing a flow sequence, but the file ended"),
        ("a: 1\n b: 2\n", 2, 3, "YAML syntax error"),
        ("a: *nope\n", 1, 4, "YAML syntax error"),
        ("a: 1\n---\nb: 2\n", 2, 1, "more than one YAML document"),
        ("a: !!python/object:os.system x\n", 1, 4, "YAML syntax error"),
        ("[1]: a\n", 1, 1, "a mapping key must be a plain value"),
    ],
)
def test_errors_are_located(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(LoadError) as info:
        load_yaml_text(text, "wf.yaml")
    assert info.value.location == SourceLocation("wf.yaml", line, column)
    assert message in info.value.message


def test_anchors_aliases_and_merge_keys_work() -> None:
    text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nref: *b\n"
    data = load_yaml_text(text)
    assert data["other"] == {"x": 1, "y": 3}
    assert data["ref"] == {"x": 1, "y": 2}


def test_a_merge_key_list() -> None:
    assert load_yaml_text("a: &a {x: 1}\nc:\n  <<: [*a]\n  z: 2\n")["c"] == {"x": 1, "z": 2}


def test_empty_document() -> None:
    assert load_yaml_text("") is None
    assert load_yaml_text("# only a comment\n") is None


def test_deep_nesting_is_a_load_error() -> None:
    with pytest.raises(LoadError):
        load_yaml_text("[" * 5000 + "]" * 5000)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a: 1\x00", "binary"),
        (b"a: \xff\xfe\n", "not UTF-8"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(content)
    with pytest.raises(LoadError, match=message) as info:
        load_yaml_file(path)
    assert info.value.location == SourceLocation(str(path))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="file not found"):
        load_yaml_file(tmp_path / "nope.yaml")
    with pytest.raises(LoadError, match="folder"):
        load_yaml_file(tmp_path)


def test_a_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_yaml_file(path) == {"a": 1}
