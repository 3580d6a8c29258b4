"""Drift between recordings: fields (property-based on inferred schemas), status, headers
and counts; ``recordings diff`` and ``test-request --compare`` against a loopback API
whose field is renamed between two runs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from task_runner.cli import main
from task_runner.recording.drift import diff_recordings, diff_schemas, field_types
from task_runner.recording.schema import infer_schema
from task_runner.recording.store import FORMAT, RecordingStore
from tests.httpserver import Reply, TestServer

HEADERS = {
    "Content-Type": "application/json",
    "Total": "2",
    "Per-Page": "100",
    "Link": '<https://x.test/p?page=2>; rel="next", <https://x.test/p?page=9>; rel="last"',
    "X-Rate-Limit-Limit": "3600",
    "X-Rate-Limit-Remaining": "3599",
    "Date": "Fri, 27 Nov 2026 22:00:00 GMT",
}
ITEMS = [{"id": 1, "old_name": "a", "size": 10}, {"id": 2, "old_name": "b", "size": 20}]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _recording(
    items: Any = None, *, status: int = 200, at: str = "2026-11-27T22:00:00.000Z", **headers: Any
) -> dict[str, Any]:
    merged = {k: v for k, v in {**HEADERS, **headers}.items() if v is not None}
    body = ITEMS if items is None else items
    accepted = 200 <= status < 300
    return {
        "format": FORMAT,
        "format_version": 1,
        "recorded_at": at,
        "workflow": "wf",
        "task": "photos",
        "pagination": {"items": ""},
        "responses": [
            {"page": 1, "status": status, "headers": merged, "body": body, "accepted": accepted}
        ],
        "result": {"status": "succeeded" if accepted else "failed"},
    }


def _renamed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{("new_name" if k == "old_name" else k): v for k, v in item.items()} for item in items]


# --- fields ----------------------------------------------------------------------------


def test_a_renamed_field_is_removed_under_its_old_name_and_added_under_the_new() -> None:
    drift = diff_recordings(_recording(), _recording(_renamed(ITEMS)))
    assert [(f.change, f.path, f.before, f.after) for f in drift.fields] == [
        ("added", "new_name", None, "string"),
        ("removed", "old_name", "string", None),
    ]
    assert drift.drifted and drift.status is None and drift.headers == ()
    assert drift.summary() == (
        "2 fields changed (added new_name, removed old_name) since 2026-11-27T22:00:00.000Z"
    )


_key = st.text("abcdefgh", min_size=1, max_size=4)
_scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
_item = st.dictionaries(
    _key,
    st.recursive(
        _scalar,
        lambda inner: st.dictionaries(_key, inner, max_size=2) | st.lists(inner, max_size=2),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=120, deadline=None)
@given(st.lists(_item, min_size=1, max_size=4))
def test_a_schema_has_no_drift_from_itself(items: list[dict[str, Any]]) -> None:
    schema = infer_schema(items)
    assert diff_schemas(schema, schema) == []
    assert diff_schemas(schema, infer_schema(list(reversed(items)))) == []


@settings(max_examples=120, deadline=None)
@given(st.lists(_item, min_size=1, max_size=4), st.data())
def test_renaming_a_top_level_field_in_every_item_names_exactly_that_field(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    common = set.intersection(*(set(item) for item in items))
    assume(common)
    old = data.draw(st.sampled_from(sorted(common)))
    new = "zz_" + old  # never one of the generated keys
    renamed = [{(new if k == old else k): v for k, v in item.items()} for item in items]
    changes = diff_schemas(infer_schema(items), infer_schema(renamed))
    top = [c for c in changes if "." not in c.path and "[]" not in c.path]
    assert [(c.change, c.path) for c in top] == [("removed", old), ("added", new)] or [
        (c.change, c.path) for c in top
    ] == [("added", new), ("removed", old)]
    # Whatever lies inside the renamed field moves with it, nothing else changes.
    assert all(c.path.split(".")[0].split("[]")[0] in (old, new) for c in changes)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"n": 10}, {"n": 10.5}, []),
        ({"n": None}, {"n": "x"}, []),
        ({"n": []}, {"n": [{"a": 1}]}, []),
        ({"n": 1}, {"n": "1"}, [("type", "n", "number", "string")]),
        ({"n": {"a": 1}}, {"n": {"a": True}}, [("type", "n.a", "number", "boolean")]),
        ({"n": [{"a": 1}]}, {"n": [{"a": 1, "b": 2}]}, [("added", "n[].b", None, "number")]),
    ],
    ids=["integer-number", "null", "empty-list", "type", "nested-type", "nested-added"],
)
def test_what_one_sample_cannot_tell_is_not_drift(
    before: dict[str, Any], after: dict[str, Any], expected: list[tuple[Any, ...]]
) -> None:
    changes = diff_schemas(infer_schema([before]), infer_schema([after]))
    assert [(c.change, c.path, c.before, c.after) for c in changes] == expected


def test_field_types_name_nested_fields_and_list_elements() -> None:
    types, opaque = field_types(infer_schema([{"a": {"b": [{"c": 1}]}, "d": None}]))
    assert types[("a", "b", "[]", "c")] == {"number"} and ("d",) in opaque


# --- status, headers, counts -----------------------------------------------------------


def test_headers_that_describe_the_api_drift_and_per_response_ones_do_not() -> None:
    after = _recording(
        **{
            "Content-Type": "text/html",
            "Date": "Sat, 28 Nov 2026 01:00:00 GMT",  # always differs: never drift
            "X-Rate-Limit-Remaining": "12",  # this response's budget: not drift
            "X-Rate-Limit-Limit": None,  # gone: drift
            "Link": '<https://x.test/p?page=3>; rel="next"',  # no "last" any more
        }
    )
    drift = diff_recordings(_recording(), after)
    assert [h.describe() for h in drift.headers] == [
        "content-type: application/json -> text/html",
        "link: rel last, next -> rel next",
        "x-rate-limit-limit: 3600 -> (absent)",
    ]


def test_a_status_change_and_an_emptied_listing_drift_but_a_count_alone_does_not() -> None:
    fewer = diff_recordings(_recording(), _recording(ITEMS[:1], Total="1"))
    assert not fewer.drifted
    assert [c.describe() for c in fewer.counts] == ["items: 2 -> 1", "Total: 2 -> 1"]
    empty = diff_recordings(_recording(), _recording([], Total="0"))
    assert empty.drifted and not empty.fields_compared and "items 2 -> 0" in empty.summary()
    refused = diff_recordings(_recording(), _recording({"errors": "x"}, status=403))
    assert refused.status is not None and refused.status.describe() == "status: 200 -> 403"


# --- recordings diff -------------------------------------------------------------------


def _store_pair(root: Path, after: dict[str, Any]) -> tuple[Path, Path]:
    store = RecordingStore(root)
    first = store.write(_recording())
    after = copy.deepcopy(after)
    after["recorded_at"] = "2026-11-28T22:00:00.000Z"
    return first, store.write(after)


def test_recordings_diff_names_the_renamed_field_as_text_and_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _store_pair(tmp_path / "recordings", _recording(_renamed(ITEMS)))
    assert main(["recordings", "diff", str(a), str(b)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert "fields: 2 changes" in text
    assert "  + added new_name (string)" in text and "  - removed old_name (string)" in text
    assert text[-1] == "drifted"
    assert main(["recordings", "diff", str(a), str(b), "--output", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["drifted"] is True
    assert report["fields"]["removed"] == [{"path": "old_name", "before": "string", "after": None}]
    assert report["fields"]["added"] == [{"path": "new_name", "before": None, "after": "string"}]
    assert report["before"]["path"] == str(a) and report["after"]["path"] == str(b)


def test_fail_on_drift_exits_1_only_when_something_drifted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _store_pair(tmp_path / "changed", _recording(_renamed(ITEMS)))
    assert main(["recordings", "diff", str(a), str(b), "--fail-on-drift"]) == 1
    same_a, same_b = _store_pair(tmp_path / "same", _recording())
    assert main(["recordings", "diff", str(same_a), str(same_b), "--fail-on-drift"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no drift"


def test_diff_of_one_task_compares_its_latest_recording_with_the_one_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_pair(tmp_path / "recordings", _recording(_renamed(ITEMS)))
    assert main(["recordings", "diff", "wf/photos", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["fields"]["added"][0]["path"] == "new_name"
    RecordingStore(tmp_path / "lonely").write(_recording())
    assert main(["recordings", "diff", "wf/photos", "--record-dir", "lonely"]) == 2


# --- test-request: the drift line, --compare, --fail-on-drift --------------------------


def _workflow(tmp_path: Path, url: str) -> Path:
    data = {
        "name": "renames",
        "connections": {"api": {"base_url": url}},
        "tasks": {"photos": {"connection": "api", "request": {"method": "GET", "url": "/p"}}},
    }
    path = tmp_path / "renames.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_next_test_run_says_what_changed_since_the_last_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = [ITEMS, ITEMS, _renamed(ITEMS), _renamed(ITEMS), _renamed(ITEMS)]
    with TestServer(lambda req: Reply(200, bodies.pop(0), {"Total": "2"})) as server:
        argv = ["test-request", str(_workflow(tmp_path, server.url)), "-t", "photos"]
        assert main(argv) == 0
        assert "since" not in capsys.readouterr().err  # nothing to compare with yet
        assert main(argv) == 0
        assert "photos: no drift since " in capsys.readouterr().err
        assert main(argv) == 0
        [line] = [x for x in capsys.readouterr().err.splitlines() if "since" in x]
        assert line.startswith("photos: 2 fields changed (added new_name, removed old_name) since ")
        assert "task-runner recordings diff recordings/renames/photos/" in line
        assert main([*argv, "--compare", "--output", "json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["drift"]["drifted"] is False and payload["exit_code"] == 0
        bodies.insert(0, ITEMS)
        assert main([*argv, "--fail-on-drift", "--output", "json"]) == 1
        payload = json.loads(capsys.readouterr().out)
        assert payload["exit_code"] == 1 and payload["status"] == "succeeded"
        assert payload["drift"]["fields"]["removed"][0]["path"] == "new_name"
