"""What the studio refuses to write, and how it answers a malformed request: a YAML
file that is not a workflow, hidden folders, folders that do not exist, a task that
would not pass ``validate`` (422 with validate's errors), and request bodies of the
wrong shape (400 naming the field, never a 500 or a traceback; hypothesis throws
arbitrary JSON at every POST route)."""

# ruff: noqa: F811  (the fixtures of test_studio, imported, are redefined as parameters)
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from task_runner.catalogue import Catalogue
from task_runner.studio.bodies import BODIES as BODY_SCHEMAS
from task_runner.workflow.validate import validate_paths
from tests.test_studio import (  # noqa: F401  (fixtures)
    Recorder,
    client,
    emulator,
    folder,
    seen,
    wait_for,
)

GITHUB_ACTIONS = "name: CI\non:\n  push: {}\njobs:\n  build:\n    runs-on: ubuntu-latest\n"


def _sha(client: TestClient, path: str) -> str | None:
    answer: str | None = client.get("/api/workflow", params={"path": path}).json()["sha256"]
    return answer


# -- 1. only task-runner workflows, only visible folders that exist ------------------------


def test_a_yaml_file_that_is_not_a_workflow_is_refused(client: TestClient, folder: Path) -> None:
    (folder / "ci2.yml").write_text(GITHUB_ACTIONS)
    body = {"path": "ci2.yml", "operation": "procore.images.list"}
    draft = client.post("/api/draft", json=body)
    assert draft.status_code == 400, draft.text
    errors = draft.json()["errors"]
    assert [(e["file"], e["line"], e["column"]) for e in errors] == [
        ("ci2.yml", 2, 1),
        ("ci2.yml", 4, 1),
    ]
    assert "not a task-runner workflow" in errors[0]["message"] and "'on'" in errors[0]["message"]
    saved = client.post("/api/save", json={**body, "base_sha256": _sha(client, "ci2.yml")})
    assert saved.status_code == 400, saved.text
    assert (folder / "ci2.yml").read_text() == GITHUB_ACTIONS


@pytest.mark.parametrize(
    "path",
    [".git/hooks/x.yaml", ".github/workflows/ci.yml", ".hidden.yaml", "sub/.cache/y.yaml"],
)
def test_hidden_files_and_folders_are_neither_read_listed_nor_written(
    client: TestClient, folder: Path, path: str
) -> None:
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if path.endswith("ci.yml"):
        target.write_text(GITHUB_ACTIONS)
    before = target.read_text() if target.exists() else None
    listed = [w["path"] for w in client.get("/api/workflows").json()["workflows"]]
    assert path not in listed
    assert client.get("/api/workflow", params={"path": path}).status_code == 400
    body = {"path": path, "operation": "procore.images.list", "base_sha256": _sha_or_none(before)}
    for route in ("/api/draft", "/api/save"):
        answer = client.post(route, json=body)
        assert answer.status_code == 400, answer.text
        assert "hidden" in answer.json()["errors"][0]["message"]
    assert (target.read_text() if target.exists() else None) == before


def _sha_or_none(text: str | None) -> str | None:
    import hashlib

    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def test_a_listed_hidden_file_is_skipped(client: TestClient, folder: Path) -> None:
    (folder / ".github" / "workflows").mkdir(parents=True)
    (folder / ".github" / "workflows" / "ci.yml").write_text(GITHUB_ACTIONS)
    (folder / ".draft.yaml").write_text("name: hidden\n")
    listed = [w["path"] for w in client.get("/api/workflows").json()["workflows"]]
    assert listed and not [p for p in listed if any(s.startswith(".") for s in p.split("/"))]


def test_folders_are_not_created(client: TestClient, folder: Path) -> None:
    body = {"path": "sub/dir/new.yaml", "operation": "procore.images.list", "base_sha256": None}
    for route in ("/api/draft", "/api/save"):
        answer = client.post(route, json=body)
        assert answer.status_code == 400, answer.text
        message = answer.json()["errors"][0]["message"]
        assert "'sub/dir' does not exist" in message
    assert not (folder / "sub").exists()
    (folder / "sub" / "dir").mkdir(parents=True)  # a folder that exists is fine
    assert client.post("/api/save", json=body).status_code == 200
    assert (folder / "sub" / "dir" / "new.yaml").is_file()


# -- 2. a save that would not pass validate is refused -------------------------------------


def test_a_new_task_that_would_not_validate_is_not_saved(
    client: TestClient, folder: Path, tmp_path: Path
) -> None:
    path = folder / "procore_images.yaml"
    before = path.read_text()
    body = {
        "path": "procore_images.yaml",
        "operation": "procore.images.list",
        "task": "broken",
        "params": {"project_id": "abc", "per_page": "{{ inputs.nope }}"},
        "base_sha256": _sha(client, "procore_images.yaml"),
    }
    answer = client.post("/api/save", json=body)
    assert answer.status_code == 422, answer.text
    assert path.read_text() == before  # nothing written
    payload = answer.json()
    assert payload["status"] == "invalid" and "would not pass validate" in payload["message"]
    # the same errors validate gives for the file it would have written
    draft = client.post("/api/draft", json={k: v for k, v in body.items() if k != "base_sha256"})
    copy = tmp_path / "elsewhere" / "procore_images.yaml"
    copy.parent.mkdir()
    copy.write_text(draft.json()["text"])
    _files, found = validate_paths([copy], catalogue=Catalogue.load([]))
    expected = sorted((e.location.line, e.message) for e in found if e.location)
    got = sorted((e["line"], e["message"].split(" (")[0]) for e in payload["errors"])
    assert expected and [(line, m.split(" (")[0]) for line, m in expected] == got
    assert any(e["path"] and "project_id" in e["path"] for e in payload["errors"])
    assert any("nope" in e["message"] for e in payload["errors"])


def test_an_edit_that_would_not_validate_is_not_saved(client: TestClient, folder: Path) -> None:
    path = folder / "procore_images.yaml"
    before = path.read_text()
    task = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()["tasks"][0]
    body = {
        "path": "procore_images.yaml",
        "task": task["name"],
        "edit": True,
        "params": {**task["params"], "per_page": "many"},
        "base_sha256": _sha(client, "procore_images.yaml"),
    }
    answer = client.post("/api/task/save", json=body)
    assert answer.status_code == 422, answer.text
    assert any("per_page" in (e["path"] or "") for e in answer.json()["errors"])
    assert path.read_text() == before


def test_a_save_takes_the_new_digest_for_the_next_save(client: TestClient, folder: Path) -> None:
    body = {
        "path": "procore_images.yaml",
        "operation": "procore.images.list",
        "task": "recent",
        "params": {"per_page": 10},
        "base_sha256": _sha(client, "procore_images.yaml"),
    }
    first = client.post("/api/save", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["sha256"] == _sha(client, "procore_images.yaml")
    edit = {"path": "procore_images.yaml", "task": "recent", "edit": True}
    params = {
        t["name"]: t["params"]
        for t in client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()["tasks"]
    }["recent"]
    second = client.post(
        "/api/task/save",
        json={**edit, "params": {**params, "per_page": 20}, "base_sha256": first.json()["sha256"]},
    )
    assert second.status_code == 200, second.text
    assert "per_page: 20" in (folder / "procore_images.yaml").read_text()


# -- 4. malformed bodies: 400 naming the field --------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        (
            "/api/draft",
            {"path": "a.yaml", "operation": "procore.images.list", "params": [1]},
            "params",
        ),
        ("/api/draft", {"path": 5, "operation": "procore.images.list"}, "path"),
        ("/api/draft", {"path": "a.yaml"}, "operation"),
        ("/api/save", {"path": "a.yaml", "operation": "x", "base_sha256": 3}, "base_sha256"),
        ("/api/task/draft", {"path": "a.yaml", "task": ["t"]}, "task"),
        (
            "/api/task/save",
            {"path": "a.yaml", "task": "t", "params": "x", "base_sha256": "0"},
            "params",
        ),
        (
            "/api/test",
            {"path": "procore_images.yaml", "task": "list_images", "inputs": [1, 2]},
            "inputs",
        ),
        ("/api/test", {"path": "procore_images.yaml", "inputs": {"a": {"b": 1}}}, "inputs.a"),
        ("/api/test", {"path": "procore_images.yaml", "pages": "many"}, "pages"),
        ("/api/test", {"path": "procore_images.yaml", "pages": 0}, "pages"),
        ("/api/test", {"path": "procore_images.yaml", "confirm_write": "yes"}, "confirm_write"),
        ("/api/test", {"path": "procore_images.yaml", "typo": 1}, "typo"),
    ],
)
def test_a_body_of_the_wrong_shape_is_a_400_naming_the_field(
    client: TestClient, route: str, body: dict[str, Any], field: str
) -> None:
    answer = client.post(route, json=body)
    assert answer.status_code == 400, answer.text
    errors = answer.json()["errors"]
    assert field in [e["path"] for e in errors], errors
    assert all(e["message"].startswith("bad request:") for e in errors)


def test_every_mistake_of_a_body_is_reported_at_once(client: TestClient) -> None:
    body = {"path": 1, "operation": "procore.images.list", "params": [1], "inputs": 3}
    answer = client.post("/api/draft", json=body)
    assert answer.status_code == 400
    assert {e["path"] for e in answer.json()["errors"]} == {"path", "params", "inputs"}


FIELDS = [
    "path",
    "operation",
    "task",
    "connection",
    "params",
    "inputs",
    "base_sha256",
    "edit",
    "pages",
    "confirm_write",
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
PATHS = st.sampled_from(
    ["procore_images.yaml", "canary.yaml", "new.yaml", "../x.yaml", ".git/a.yaml", "", "a/b.yml"]
)
TEXT = st.text(max_size=12)
#: Values of the right type for each field (the shapes the page sends), so that the
#: bodies reach the drafts, saves and test jobs behind the shape check.
SHAPED = {
    "path": PATHS,
    "operation": st.sampled_from(["procore.images.list", "nope"]) | TEXT,
    "task": st.sampled_from(["list_images", "photos", "new_task"]) | TEXT | st.none(),
    "connection": st.sampled_from(["procore", "nope"]) | TEXT | st.none(),
    "params": st.dictionaries(
        st.sampled_from(["project_id", "per_page", "sort", "Procore-Company-Id"]) | TEXT,
        JSON,
        max_size=3,
    ),
    "inputs": st.dictionaries(
        st.sampled_from(["company_id", "project_id"]) | TEXT,
        st.none() | st.booleans() | st.integers() | TEXT,
        max_size=2,
    ),
    "base_sha256": st.none() | TEXT,
    "edit": st.booleans() | st.none(),
    "pages": st.integers(1, 2) | st.none(),
    "confirm_write": st.booleans(),
}
#: Values that usually exist, so that many bodies get past "no such file/operation/task".
LIKELY = {
    "path": st.sampled_from(["procore_images.yaml", "canary.yaml", "new.yaml"]),
    "operation": st.just("procore.images.list"),
    "task": st.sampled_from(["list_images", "photos"]),
    "base_sha256": st.none(),
}
ROUTES = ["/api/draft", "/api/save", "/api/task/draft", "/api/task/save", "/api/test"]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=st.sampled_from(ROUTES), data=st.data())
def test_arbitrary_json_never_gets_a_500_or_a_traceback(
    client: TestClient, capfd: pytest.CaptureFixture[str], route: str, data: Any
) -> None:
    schema = BODY_SCHEMAS[route.removeprefix("/api/").replace("/", "_")]
    allowed, required = schema["properties"], schema["required"]
    body = data.draw(
        JSON  # anything at all
        | st.fixed_dictionaries({}, optional={name: JSON for name in FIELDS})  # any field
        | st.fixed_dictionaries(  # this route's fields, of the right types
            {k: LIKELY.get(k, SHAPED[k]) for k in required},
            optional={k: SHAPED[k] for k in allowed if k not in required},
        )
        | st.fixed_dictionaries({}, optional={k: SHAPED[k] | JSON for k in allowed}),
        label="body",
    )
    answer = client.post(route, content=json.dumps(body).encode())
    event(f"{route} {answer.status_code}")  # --hypothesis-show-statistics: how deep it got
    assert answer.status_code < 500, (route, body, answer.text)
    assert "Traceback" not in answer.text
    if answer.status_code == 202:  # a test request started: it must not fail inside
        job = wait_for(client, answer.json())
        assert "internal error" not in json.dumps(job), (body, job)
    assert "Traceback" not in capfd.readouterr().err


def test_cancel_of_an_unknown_job_is_a_404(client: TestClient) -> None:
    assert client.post("/api/test/nope/cancel", content=b"[1]").status_code == 404


@pytest.mark.parametrize("raw", [b"[1]", b"nope", b'"text"', b"\xff", b"{" * 5000])
def test_a_body_that_is_not_a_json_object_is_a_400(client: TestClient, raw: bytes) -> None:
    for route in ROUTES:
        answer = client.post(route, content=raw)
        assert answer.status_code == 400, (route, answer.text)


@pytest.mark.parametrize("value", ["a\x7fb", "\x85\u2028\ufeff", "tab\there", "é😀"])
def test_any_text_value_is_written_as_yaml_that_reads_back(
    client: TestClient, folder: Path, value: str
) -> None:
    import yaml

    body = {"path": "new.yaml", "operation": "procore.images.list", "params": {"sort": value}}
    draft = client.post("/api/draft", json=body)
    assert draft.status_code == 200, draft.text
    assert yaml.safe_load(draft.json()["text"])["tasks"]["list_images"]["params"]["sort"] == value
    task = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()["tasks"][0]
    edit = {"path": "procore_images.yaml", "task": task["name"], "params": {"sort": value}}
    edited = client.post("/api/task/draft", json=edit)
    assert edited.status_code == 200, edited.text
    data = yaml.safe_load(edited.json()["text"])
    assert data["tasks"][task["name"]]["params"]["sort"] == value


@pytest.mark.parametrize("field", ["task", "connection"])
def test_a_name_that_is_not_a_name_is_a_400(client: TestClient, field: str) -> None:
    body = {"path": "new.yaml", "operation": "procore.images.list", field: "a\x1fb: c"}
    answer = client.post("/api/draft", json=body)
    assert answer.status_code == 400, answer.text
    assert [e["path"] for e in answer.json()["errors"]] == [field]


GETS = {
    "/api/workflow": "path",
    "/api/operation": "id",
    "/api/search": "q",
    "/api/recordings": "workflow",
    "/api/recording": "ref",
    "/api/drift": "before",
    "/api/runs": "workflow",
    "/api/run": "id",
}


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=st.sampled_from(sorted(GETS)), value=st.text(max_size=300))
def test_arbitrary_query_values_never_get_a_500(
    client: TestClient, capfd: pytest.CaptureFixture[str], route: str, value: str
) -> None:
    answer = client.get(route, params={GETS[route]: value})
    assert answer.status_code < 500, (route, value, answer.text)
    assert "Traceback" not in answer.text + capfd.readouterr().err
