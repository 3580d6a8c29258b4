"""Response schemas from recordings: genson's inference (property-based), where the schema
is kept (never where ``apis generate --check`` looks), ``recordings schema`` and
``test-request --save-schema`` against the emulator and a loopback API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from task_runner.catalogue import Catalogue
from task_runner.catalogue.generator import check
from task_runner.cli import main
from task_runner.recording.schema import (
    SCHEMA_DIALECT,
    infer_schema,
    recorded_items,
    response_schema_path,
)
from task_runner.recording.store import FORMAT, RecordingStore
from task_runner.workflow import load_workflow
from tests.httpserver import Reply, TestServer

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "examples" / "workflows" / "procore_images.yaml"
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TASK_RUNNER_DEFINITIONS", "PROCORE_BASE_URL", "PROCORE_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)


def _recording(pages: list[Any], *, items_at: str = "", task: str = "photos") -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": 1,
        "recorded_at": "2026-11-27T22:00:00.000Z",
        "workflow": "wf",
        "task": task,
        "pagination": {"items": items_at},
        "responses": [
            {"page": n, "status": 200, "headers": {}, "body": body, "accepted": True}
            for n, body in enumerate(pages, start=1)
        ],
        "result": {"status": "succeeded"},
    }


# --- inference -------------------------------------------------------------------------

_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_json, min_size=1, max_size=6))
def test_every_item_matches_the_schema_inferred_from_it(items: list[Any]) -> None:
    schema = infer_schema(items)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for item in items:
        assert not list(validator.iter_errors(item)), (item, schema)


def test_the_awkward_cases_are_merged_not_guessed() -> None:
    schema = infer_schema(
        [
            {"id": 1, "price": 10, "note": None, "tags": []},
            {"id": 2, "price": 10.5, "note": "x", "tags": ["a"], "extra": True},
        ]
    )
    assert schema["$schema"] == SCHEMA_DIALECT
    props = schema["properties"]
    assert props["price"] == {"type": "number"}  # 10 and 10.5 are one number type
    assert props["note"] == {"type": ["null", "string"]}  # seen as null and as text
    assert props["tags"]["items"] == {"type": "string"}
    assert "extra" not in schema["required"] and "id" in schema["required"]


def test_recorded_items_follow_the_items_pointer_and_skip_refused_pages() -> None:
    recording = _recording([{"data": [{"id": 1}]}, {"data": [{"id": 2}]}], items_at="/data")
    recording["responses"].append({"status": 500, "accepted": False, "body": {"error": "x"}})
    assert recorded_items(recording) == [{"id": 1}, {"id": 2}]


# --- recordings schema -----------------------------------------------------------------


def test_recordings_schema_prints_the_items_schema_and_merges_with_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = RecordingStore(tmp_path / "recordings")
    store.write(_recording([[{"id": 1, "old": "a"}]]))
    later = _recording([[{"id": 2, "new": 3}]])
    later["recorded_at"] = "2026-11-28T22:00:00.000Z"
    store.write(later)
    assert main(["recordings", "schema", "wf/photos"]) == 0
    latest = json.loads(capsys.readouterr().out)
    assert set(latest["properties"]) == {"id", "new"}
    assert main(["recordings", "schema", "wf/photos", "--all", "--out", "s.json"]) == 0
    merged = json.loads((tmp_path / "s.json").read_text())
    assert set(merged["properties"]) == {"id", "old", "new"} and merged["required"] == ["id"]


def test_a_recording_without_items_has_no_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    RecordingStore(tmp_path / "recordings").write(_recording([None]))
    assert main(["recordings", "schema", "wf/photos"]) == 2
    assert "nothing to infer from" in capsys.readouterr().err


# --- test-request --save-schema --------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The committed procore definitions, schemas and sources, in a writable copy."""
    for folder in ("task_definitions/procore", "schemas/procore"):
        shutil.copytree(ROOT / folder, tmp_path / "repo" / folder)
    return tmp_path / "repo"


def test_save_schema_keeps_it_beside_the_operation_and_generate_check_ignores_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = check(repo)
    definitions = str(repo / "task_definitions")
    argv = ["test-request", str(IMAGES), "-t", "list_images", "--emulator", *INPUTS]
    assert main([*argv, "--definitions", definitions, "--save-schema"]) == 0
    saved = repo / "task_definitions/procore/responses/procore.images.list.schema.json"
    assert f"response schema saved to {saved}" in capsys.readouterr().err
    schema = json.loads(saved.read_text())
    assert schema["$schema"] == SCHEMA_DIALECT and schema["type"] == "object"
    assert {"id", "filename", "url"} <= set(schema["properties"])
    workflow = load_workflow(IMAGES, catalogue=Catalogue.load([definitions]))
    assert response_schema_path(workflow, "list_images") == saved
    # Not an operation to the catalogue, not a generated file to --check.
    assert Catalogue([repo / "task_definitions"]).ids() == ["procore.images.list"]
    assert check(repo) == before
    # Saving again over it says whether anything changed.
    assert main([*argv, "--definitions", definitions, "--save-schema"]) == 0
    assert f"saved to {saved} (unchanged)" in capsys.readouterr().err


def test_a_raw_request_task_keeps_its_schema_beside_the_workflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "flows" / "things.yaml"
    workflow.parent.mkdir()
    with TestServer(lambda req: Reply(200, [{"id": 1, "name": "a"}])) as server:
        data = {
            "name": "things",
            "connections": {"api": {"base_url": server.url}},
            "tasks": {
                "list": {"connection": "api", "request": {"method": "GET", "url": "/things"}},
                "checked": {
                    "connection": "api",
                    "request": {"method": "GET", "url": "/things"},
                    "expect": {"schema": "stored"},
                },
            },
        }
        workflow.write_text(yaml.safe_dump(data), encoding="utf-8")
        assert main(["test-request", str(workflow), "-t", "list", "--save-schema"]) == 0
        saved = tmp_path / "flows" / "schemas" / "things.list.response.schema.json"
        assert json.loads(saved.read_text())["required"] == ["id", "name"]
        # `schema: stored` reads the task's own file: "checked" has none yet.
        assert main(["test-request", str(workflow), "-t", "checked"]) == 1
        assert "things.checked.response.schema.json" in capsys.readouterr().err
        shutil.copy(saved, saved.with_name("things.checked.response.schema.json"))
        assert main(["run", str(workflow), "--output", "json"]) == 0


def test_a_refused_response_is_not_saved_as_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "things.yaml"
    with TestServer(lambda req: Reply(404, {"errors": "no"})) as server:
        data = {
            "name": "things",
            "connections": {"api": {"base_url": server.url}},
            "tasks": {"list": {"connection": "api", "request": {"method": "GET", "url": "/x"}}},
        }
        workflow.write_text(yaml.safe_dump(data), encoding="utf-8")
        assert main(["test-request", str(workflow), "-t", "list", "--save-schema"]) == 1
    assert "response schema not saved: the status was refused" in capsys.readouterr().err
    assert not (tmp_path / "schemas").exists()
