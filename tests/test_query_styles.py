"""Query encoding styles: OpenAPI ``style``/``explode``, Procore's brackets as one style
among them, chosen per parameter, then by the API profile."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from task_runner.workflow.request_builder import encode_query, openapi_style

CASES: list[tuple[str, str, Any, list[tuple[str, str]]]] = [
    ("brackets", "ids", [1, 2], [("ids[]", "1"), ("ids[]", "2")]),
    ("brackets", "ids[]", [1, 2], [("ids[]", "1"), ("ids[]", "2")]),
    ("brackets", "filters", {"starred": True}, [("filters[starred]", "true")]),
    ("repeat", "ids", [1, 2], [("ids", "1"), ("ids", "2")]),
    ("repeat", "point", {"x": 1, "y": 2}, [("x", "1"), ("y", "2")]),
    ("comma", "ids", [1, 2, 3], [("ids", "1,2,3")]),
    ("comma", "point", {"x": 1, "y": 2}, [("point", "x,1,y,2")]),
    ("space", "ids", ["a", "b"], [("ids", "a b")]),
    ("pipe", "ids", ["a", "b"], [("ids", "a|b")]),
    ("deepObject", "color", {"R": 100, "G": 200}, [("color[R]", "100"), ("color[G]", "200")]),
    ("repeat", "flag", False, [("flag", "false")]),
    ("repeat", "gone", None, []),
]


@pytest.mark.parametrize(
    ("style", "name", "value", "pairs"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_each_style(style: str, name: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    assert list(encode_query(name, value, style=style)) == pairs


@pytest.mark.parametrize(
    ("style", "explode", "ours"),
    [
        (None, None, None),
        ("form", None, "repeat"),
        ("form", True, "repeat"),
        ("form", False, "comma"),
        ("spaceDelimited", False, "space"),
        ("pipeDelimited", False, "pipe"),
        ("deepObject", True, "deepObject"),
        (None, False, "comma"),
    ],
)
def test_openapi_style_and_explode(
    style: str | None, explode: bool | None, ours: str | None
) -> None:
    assert openapi_style(style, explode) == ours


@given(st.lists(st.text(min_size=0, max_size=8), max_size=6))
def test_repeat_round_trips_through_the_wire(values: list[str]) -> None:
    wire = urlencode(list(encode_query("v", values, style="repeat")))
    assert [v for _, v in parse_qsl(wire, keep_blank_values=True)] == values


@given(st.lists(st.text(min_size=1, max_size=8), max_size=6))
def test_brackets_round_trip_through_the_wire(values: list[str]) -> None:
    wire = urlencode(list(encode_query("v", values, style="brackets")))
    decoded = parse_qsl(wire, keep_blank_values=True)
    assert all(k == "v[]" for k, _ in decoded) and [v for _, v in decoded] == values
