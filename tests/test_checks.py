"""``expect`` checks: the predicates (property-based), the YAML shape and its errors, and
every failed check reported by a scheduled run and by a test run against a loopback API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from task_runner.cli import main
from task_runner.errors import ExpectationError, InputErrors
from task_runner.model import Expect
from task_runner.pointer import MISSING
from task_runner.recording.followup import recorded_response
from task_runner.runner.checks import (
    ChecksFailed,
    enforce,
    evaluate,
    validate_expect,
)
from task_runner.runner.predicates import Predicate, parse_predicates, same
from task_runner.workflow import load_workflow
from task_runner.workflow.loader import parse_expect
from tests.httpserver import Reply, TestServer

PHOTOS = [
    {"id": 1, "filename": "IMG_0001.jpg", "size": 2048, "tags": ["site"]},
    {"id": 2, "filename": "IMG_0002.jpg", "size": 4096, "tags": []},
]
HEADERS = {"X-Rate-Limit-Remaining": "3599", "Total": "2"}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # recordings land in the test's folder


def _response(body: Any = None, *, status: int = 200, **headers: str) -> dict[str, Any]:
    items = body if isinstance(body, list) else ([] if body is None else [body])
    return {
        "status": status,
        "headers": {"Content-Type": "application/json", **headers},
        "body": body,
        "items": items,
        "item_count": len(items),
        "pages": 1,
        "jsonl": None,
    }


def _failed(results: list[Any]) -> list[str]:
    return [r.message for r in results if r.passed is False]


# --- predicates ------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
_numbers = st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6, allow_nan=False)


@given(_json)
def test_a_json_value_equals_itself_after_a_round_trip(value: Any) -> None:
    assert same(value, json.loads(json.dumps(value)))
    assert Predicate("==", value).test(value) and not Predicate("!=", value).test(value)


@given(st.integers(0, 1))
def test_true_is_never_one_and_one_is_one_point_zero(n: int) -> None:
    assert not same(bool(n), n) and not same([bool(n)], [n])
    assert same(n, float(n))


@given(_numbers, _numbers, st.sampled_from(["<", "<=", ">", ">="]))
def test_orderings_agree_with_numbers_and_read_headers_as_numbers(
    value: float, operand: float, op: str
) -> None:
    expected = {"<": value < operand, "<=": value <= operand, ">": value > operand}.get(
        op, value >= operand
    )
    [predicate] = parse_predicates({op: operand}, where="x")
    assert predicate.test(value) is expected
    assert predicate.test(str(value), text=True) is expected  # a header's text
    assert predicate.test(str(value)) is False  # a JSON string is no number
    assert predicate.test(MISSING) is False


@given(st.text(max_size=20), st.from_regex(r"[a-z]{1,3}", fullmatch=True))
def test_matches_is_a_regex_search(value: str, pattern: str) -> None:
    [predicate] = parse_predicates({"matches": pattern}, where="x")
    assert predicate.test(value) is (re.search(pattern, value) is not None)


@given(_json, st.lists(_json, max_size=4))
def test_in_is_json_membership(value: Any, options: list[Any]) -> None:
    assert Predicate("in", options).test(value) is any(same(value, o) for o in options)


def test_exists_and_a_missing_value() -> None:
    assert Predicate("exists", True).test(0) and not Predicate("exists", True).test(MISSING)
    assert Predicate("exists", False).test(MISSING) and not Predicate("exists", False).test(None)
    assert not Predicate("!=", 3).test(MISSING)  # missing fails every comparison


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"matches": "("}, "is not a regex"),
        ({"in": 3}, "needs a list"),
        ({">": [1]}, "compares with a number or a string"),
        ({"exists": "yes"}, "true or false"),
    ],
    ids=["regex", "in", "ordering", "exists"],
)
def test_a_bad_operand_is_named(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        parse_predicates(raw, where="expect.checks[3]")
    assert "expect.checks[3]" in str(info.value)


# --- the checks on one response --------------------------------------------------------


def test_every_kind_of_check_passes_on_a_good_response() -> None:
    expect = Expect(
        status=frozenset({200}),
        headers={"content-type": {"matches": "json"}, "X-Rate-Limit-Remaining": {">": 10}},
        schema={"type": "object", "required": ["id", "size"]},
        items_min=1,
        items_max=10,
        checks=(
            {"pointer": "/0/id", "exists": True},
            {"pointer": "/-1/size", ">": 0, "<=": 4096},
            {"pointer": "/0/filename", "matches": "^IMG_", "in": ["IMG_0001.jpg"]},
            {"query": "length([?size > `3000`])", "==": 1},
        ),
    )
    results = evaluate(expect, _response(PHOTOS, **HEADERS))
    assert _failed(results) == []
    assert [r.title for r in results][:3] == [
        "status 200",
        'headers.content-type matches "json"',
        "headers.X-Rate-Limit-Remaining > 10",
    ]
    assert len(results) == 11  # one result per predicate


def test_all_failures_are_reported_with_expected_and_actual() -> None:
    expect = Expect(
        headers={"Content-Type": {"matches": "xml"}, "Total": {"exists": False}},
        schema={"type": "object", "properties": {"size": {"type": "string"}}},
        items_min=3,
        checks=({"pointer": "/0/id", "==": 7}, {"pointer": "/0/nope", "exists": True}),
    )
    with pytest.raises(ChecksFailed) as info:
        enforce(expect, _response(PHOTOS, **HEADERS), task="photos")
    error = info.value
    assert isinstance(error, ExpectationError) and error.exit_code == 1
    assert all(isinstance(f, ExpectationError) for f in error.failures)
    assert [f.format() for f in error.failures] == [
        'expect.headers.Content-Type: headers.Content-Type: expected matches "xml", '
        'got "application/json"',
        'expect.headers.Total: headers.Total: expected absent, got "2"',
        "expect.schema: schema: expected every item to match the schema, got 2 of 2 item(s) "
        "not matching: item 0 at /size: 2048 is not of type 'string'; item 1 at /size: "
        "4096 is not of type 'string'",
        "expect.items: items: expected at least 3, got 2",
        "expect.checks[0]: /0/id: expected == 7, got 1",
        "expect.checks[1]: /0/nope: expected exists, got missing",
    ]
    assert error.format().startswith("photos: 6 of 7 check(s) failed: expect.headers.Content-Type")


def test_pointers_read_the_items_of_a_wrapped_listing_and_the_body_of_one_object() -> None:
    expect = Expect(items_at="/data", checks=({"pointer": "/0/id", "==": 1},))
    wrapped = _response({"data": PHOTOS})
    wrapped["items"], wrapped["item_count"] = PHOTOS, 2
    assert _failed(evaluate(expect, wrapped)) == []
    single = Expect(checks=({"pointer": "/filename", "matches": "0001"},))
    assert _failed(evaluate(single, _response(PHOTOS[0]))) == []


def test_a_refused_status_is_the_one_failure_and_the_rest_are_not_evaluated() -> None:
    expect = Expect(items_min=1, checks=({"pointer": "/0/id", "exists": True},))
    results = evaluate(expect, _response({"errors": "nope"}, status=404))
    assert [r.passed for r in results] == [False, None, None]
    assert results[0].message == "status: expected 2xx, got 404"
    assert results[1].actual == "not evaluated: status refused"
    assert [r.passed for r in evaluate(expect, None)] == [False, None, None]


def test_that_checks_keep_working_and_say_their_message() -> None:
    from task_runner.workflow.templating import TemplateEngine

    expect = Expect(
        checks=(
            {"that": "response.item_count > 0"},
            {"that": "response.item_count > 5", "message": "too few photos"},
        )
    )
    results = evaluate(expect, _response(PHOTOS), templates=TemplateEngine())
    assert _failed(results) == [
        "too few photos (response.item_count > 5: expected to be true, got false)"
    ]


def test_a_stored_schema_that_is_not_there_fails_and_says_how_to_save_one(tmp_path: Path) -> None:
    missing = tmp_path / "responses" / "x.schema.json"
    [*_, result] = evaluate(Expect(schema="stored"), _response(PHOTOS), stored_schema=missing)
    assert (
        result.passed is False
        and "--save-schema" in result.actual
        and str(missing) in result.actual
    )
    missing.parent.mkdir()
    missing.write_text(json.dumps({"type": "object", "required": ["id"]}))
    [*_, result] = evaluate(Expect(schema="stored"), _response(PHOTOS), stored_schema=missing)
    assert result.passed is True


def test_recorded_response_rebuilds_the_output_a_recording_shows() -> None:
    recording = {
        "pagination": {"items": "/data"},
        "responses": [
            {"status": 200, "headers": {"Total": "3"}, "body": {"data": [{"id": 1}, {"id": 2}]}},
            {"status": 200, "headers": {}, "body": {"data": [{"id": 3}]}},
        ],
        "result": {"item_count": 3},
    }
    response = recorded_response(recording)
    assert response is not None
    assert response["items"] == [{"id": 1}, {"id": 2}, {"id": 3}] and response["pages"] == 2
    assert response["headers"] == {"Total": "3"} and response["item_count"] == 3
    refused = {"responses": [{"status": 403, "accepted": False, "headers": {}, "body": "no"}]}
    assert recorded_response(refused)["status"] == 403  # type: ignore[index]
    assert recorded_response({"responses": []}) is None


# --- the YAML shape --------------------------------------------------------------------

EXPECT_YAML = """\
status: [200]
headers:
  Content-Type: {matches: json}
  X-Rate-Limit-Remaining: {">": 10}
schema: stored
items: {min: 1, max: 10000}
checks:
  - {pointer: /0/id, exists: true}
  - {pointer: /0/size, ">": 0}
  - {query: "length([?size == `0`])", "==": 0}
  - {that: "response.item_count > 0", message: no photos}
"""


def _workflow(tmp_path: Path, url: str, expect: Any, **task: Any) -> Path:
    data = {
        "name": "checked",
        "connections": {"api": {"base_url": url}},
        "tasks": {
            "photos": {
                "connection": "api",
                "request": {"method": "GET", "url": "/photos"},
                "retry": {"max_attempts": 1},
                "expect": expect,
                **task,
            }
        },
    }
    path = tmp_path / "wf" / "checked.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_documented_shape_loads_into_expect(tmp_path: Path) -> None:
    expect = yaml.safe_load(EXPECT_YAML)
    task = load_workflow(_workflow(tmp_path, "http://127.0.0.1:9", expect)).tasks["photos"]
    assert task.expect == parse_expect(expect)
    assert task.expect.headers == {
        "Content-Type": {"matches": "json"},
        "X-Rate-Limit-Remaining": {">": 10},
    }
    assert (task.expect.schema, task.expect.items_min, task.expect.items_max) == (
        "stored",
        1,
        10000,
    )
    assert len(task.expect.checks) == 4


@pytest.mark.parametrize(
    ("expect", "words"),
    [
        ({"checks": [{"pointer": "/0/id", "~=": 1}]}, "unknown key '~='"),
        ({"checks": [{"that": "response.status", ">": 1}]}, "is not valid here"),
        ({"checks": [{"pointer": "/0/id"}]}, "is not valid here"),
        ({"checks": [{"pointer": "0/id", "exists": True}]}, "does not match"),
        ({"headers": {"Total": {"exists": "yes"}}}, "is not of type 'boolean'"),
        ({"headers": {"Total": {}}}, "should be non-empty"),
        ({"items": {"min": -1}}, "less than the minimum of 0"),
        ({"schema": {"type": "objekt"}}, "is not valid here"),
        ({"schema": "saved"}, "is not valid here"),
    ],
    ids=[
        "unknown-operator",
        "that-with-operator",
        "pointer-without-operator",
        "pointer-syntax",
        "exists-type",
        "empty-predicates",
        "items-min",
        "bad-schema",
        "schema-word",
    ],
)
def test_a_wrong_expect_is_an_input_error_with_its_place(
    tmp_path: Path, expect: dict[str, Any], words: str
) -> None:
    with pytest.raises(InputErrors) as info:
        load_workflow(_workflow(tmp_path, "http://127.0.0.1:9", expect))
    text = info.value.format()
    assert words in text, text
    assert re.search(r"checked\.yaml:\d+:\d+: photos\.expect", text), text


@pytest.mark.parametrize(
    "expect",
    [
        {"checks": [{"pointer": "/0/name", "matches": "("}]},
        {"checks": [{"query": "[?", "exists": True}]},
        {"items": {"min": 5, "max": 1}},
    ],
    ids=["regex", "jmespath", "min-over-max"],
)
def test_what_the_schema_cannot_see_is_refused_before_anything_is_sent(
    tmp_path: Path, expect: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        validate_expect(_unchecked(expect))
    with pytest.raises(InputErrors) as info:
        load_workflow(_workflow(tmp_path, "http://127.0.0.1:9", expect))
    assert info.value.exit_code == 2 and "photos" in info.value.format()


def _unchecked(raw: dict[str, Any]) -> Expect:
    items = raw.get("items") or {}
    return Expect(
        checks=tuple(raw.get("checks") or ()),
        items_min=items.get("min"),
        items_max=items.get("max"),
    )


# --- a scheduled run and a test run evaluate the same checks ---------------------------


def _server(body: Any = None, **headers: str) -> TestServer:
    payload = PHOTOS if body is None else body
    return TestServer(lambda req: Reply(200, payload, {**HEADERS, **headers}))


def test_a_scheduled_run_reports_every_failed_check_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expect = {
        "headers": {"Content-Type": {"matches": "json"}, "X-Rate-Limit-Remaining": {"<": 100}},
        "items": {"min": 1, "max": 1},
        "checks": [
            {"pointer": "/0/size", ">": 0},
            {"pointer": "/1/filename", "==": "IMG_0003.jpg"},
            {"that": "response.item_count == 2"},
        ],
    }
    with _server() as server:
        code = main(["run", str(_workflow(tmp_path, server.url, expect)), "--output", "json"])
    task = json.loads(capsys.readouterr().out)["tasks"]["photos"]
    assert code == 1 and task["status"] == "failed"
    assert task["error"].endswith(
        "photos: 3 of 7 check(s) failed: "
        'expect.headers.X-Rate-Limit-Remaining: headers.X-Rate-Limit-Remaining: expected < 100, got "3599"; '
        "expect.items: items: expected exactly 1, got 2; "
        'expect.checks[1]: /1/filename: expected == "IMG_0003.jpg", got "IMG_0002.jpg"'
    ), task["error"]


def test_a_run_with_jsonl_output_checks_the_items_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "photos.jsonl"
    expect = {
        "schema": {"type": "object", "required": ["id", "filename"]},
        "checks": [{"pointer": "/1/id", "==": 2}],
    }
    with _server() as server:
        wf = _workflow(tmp_path, server.url, expect, output={"jsonl": str(out)})
        assert main(["run", str(wf), "--output", "json"]) == 0, capsys.readouterr().out
        capsys.readouterr()
        bad = {"schema": {"type": "object", "required": ["owner"]}}
        wf = _workflow(tmp_path, server.url, bad, output={"jsonl": str(out)})
        assert main(["run", str(wf), "--output", "json"]) == 1
    error = json.loads(capsys.readouterr().out)["tasks"]["photos"]["error"]
    assert "2 of 2 item(s) not matching: item 0 at /: 'owner' is a required property" in error


def test_a_test_run_fails_with_the_same_checks_and_passes_once_they_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expect = {"items": {"min": 3}, "checks": [{"pointer": "/0/id", "exists": True}]}
    with _server() as server:
        wf = _workflow(tmp_path, server.url, expect)
        assert main(["test-request", str(wf), "-t", "photos"]) == 1
        err = capsys.readouterr().err
        assert "1 of 3 check(s) failed: expect.items: items: expected at least 3, got 2" in err
        wf = _workflow(tmp_path, server.url, {"items": {"min": 2}})
        assert main(["test-request", str(wf), "-t", "photos"]) == 0


def test_a_jinja_check_that_cannot_be_evaluated_is_still_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _server() as server:
        wf = _workflow(tmp_path, server.url, {"checks": [{"that": "response.nothing.deeper"}]})
        code = main(["run", str(wf), "--output", "json"])
    task = json.loads(capsys.readouterr().out)["tasks"]["photos"]
    assert code == 1 and task["status"] == "failed"
    assert "expect.checks[0]" in task["error"] and "nothing" in task["error"]
    assert "check(s) failed" not in task["error"]  # a mistake in the file, not a failed check


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_item_bounds_hold_exactly_at_their_ends(count: int, low: int, high: int) -> None:
    expect = Expect(items_min=low, items_max=high)
    body = [{"id": n} for n in range(count)]
    [_, result] = evaluate(expect, _response(body))
    assert result.passed is (low <= count <= high)
