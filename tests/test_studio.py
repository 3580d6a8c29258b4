"""``task-runner studio``'s server through Starlette's TestClient (the browser tests are in
test_studio_browser.py): the access token on every request, CSRF-safe writes, nothing
outside the folder, secrets never in an answer, saves through the add-task writer with
conflicts refused, and test requests on the ``test-request`` code path (emulator)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient

from task_runner.catalogue import Catalogue
from task_runner.emulator import Emulator
from task_runner.studio.app import StudioConfig, create_app
from task_runner.workflow.validate import validate_paths

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "workflows"
TOKEN = "test-token-0123456789abcdef"
CANARY = "canary-5d1c0e7a-studio-never-shows-me"
INPUTS = {"company_id": "8089", "project_id": "777"}

CANARY_WORKFLOW = """\
# the canary: its header value is a secret that must never reach the browser
name: canary
inputs:
  company_id: {type: integer}
  project_id: {type: integer}
connections:
  procore:
    api: procore
    base_url: "{{ env.PROCORE_BASE_URL }}"
    headers:
      X-Canary: "{{ secrets.STUDIO_CANARY }}"
    auth:
      type: oauth2_client_credentials
      token_url: "{{ env.PROCORE_TOKEN_URL }}"
      client_id: "{{ secrets.PROCORE_CLIENT_ID }}"
      client_secret: "{{ secrets.PROCORE_CLIENT_SECRET }}"
tasks:
  photos:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      per_page: 5
"""


def make_folder(root: Path) -> Path:
    """A studio folder: the examples, the canary workflow, and a file outside it."""
    folder = root / "workflows"
    folder.mkdir()
    for example in EXAMPLES.glob("*.yaml"):
        shutil.copy(example, folder / example.name)
    (folder / "canary.yaml").write_text(CANARY_WORKFLOW)
    (root / "outside.yaml").write_text("name: outside\n")
    return folder


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(dataset_end=time.time()) as em:
        yield em


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STUDIO_CANARY", CANARY)
    monkeypatch.delenv("TASK_RUNNER_DEFINITIONS", raising=False)
    return make_folder(tmp_path)


def studio_config(folder: Path, emulator: Emulator | None, port: int = 0) -> StudioConfig:
    return StudioConfig(
        root=folder.resolve(),
        token=TOKEN,
        catalogue=Catalogue.load([]),
        port=port,
        emulator=emulator,
        environ={**os.environ, "PROCORE_CLIENT_SECRET": CANARY + "-client"},
    )


class Recorder:
    """Every answer body the client saw, to search for the canary afterwards."""

    def __init__(self) -> None:
        self.bodies: list[str] = []


@pytest.fixture
def seen() -> Recorder:
    return Recorder()


@pytest.fixture
def client(folder: Path, emulator: Emulator, seen: Recorder) -> Iterator[TestClient]:
    app = create_app(studio_config(folder, emulator))
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        original = test_client.request

        def request(*args: Any, **kwargs: Any) -> Any:
            response = original(*args, **kwargs)
            seen.bodies.append(response.text + json.dumps(dict(response.headers)))
            return response

        test_client.request = request  # type: ignore[method-assign]
        test_client.headers["X-Studio-Token"] = TOKEN
        yield test_client
    app.state.studio.jobs.wait_all()


def wait_for(client: TestClient, job: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while job["state"] == "running":
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = client.get(f"/api/test/{job['id']}").json()
    return job


# -- the access token ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/static/studio.js", "/api/workflows", "/api/search?q=images", "/api/state"]
)
def test_every_request_needs_the_token(client: TestClient, path: str) -> None:
    anonymous = client.get(path, headers={"X-Studio-Token": ""})
    wrong = client.get(path, headers={"X-Studio-Token": TOKEN[:-1] + "x"})
    assert anonymous.status_code == wrong.status_code == 403
    assert "workflow" not in anonymous.text.lower() or "access token" in anonymous.text.lower()
    assert client.get(path).status_code == 200


def test_the_token_in_the_url_becomes_a_strict_cookie(client: TestClient) -> None:
    client.headers.pop("X-Studio-Token")
    first = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    page = client.get("/")  # the cookie now
    assert page.status_code == 200 and TOKEN in page.text  # for the page's own API calls
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_write_needs_the_token_header_not_just_the_cookie(client: TestClient) -> None:
    body = {"path": "new.yaml", "operation": "procore.images.list", "base_sha256": None}
    client.headers.pop("X-Studio-Token")
    client.get(f"/?token={TOKEN}")  # the cookie is set, as in a browser
    assert client.get("/api/workflows").status_code == 200
    forged = client.post("/api/save", json=body)  # what a cross-site form could do
    assert forged.status_code == 403
    other_origin = client.post(
        "/api/save", json=body, headers={"X-Studio-Token": TOKEN, "Origin": "http://evil.test"}
    )
    assert other_origin.status_code == 403
    assert not (Path(client.app.state.studio.workspace.root) / "new.yaml").exists()  # type: ignore[attr-defined]


def test_a_foreign_host_header_is_refused(client: TestClient) -> None:
    """DNS rebinding: a page of evil.test resolved to 127.0.0.1 names its own host."""
    assert client.get("/api/workflows", headers={"Host": "evil.test"}).status_code == 400
    assert client.get("/api/workflows", headers={"Host": "localhost"}).status_code == 200


# -- nothing outside the folder --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../outside.yaml", "/etc/passwd", "sub/../../outside.yaml", "~/x.yaml", "canary.txt", ""],
)
def test_no_file_outside_the_folder_is_read_or_written(
    client: TestClient, folder: Path, path: str
) -> None:
    read = client.get("/api/workflow", params={"path": path})
    assert read.status_code == 400, read.text
    body = {"path": path, "operation": "procore.images.list", "base_sha256": None}
    assert client.post("/api/save", json=body).status_code == 400
    assert (folder.parent / "outside.yaml").read_text() == "name: outside\n"


def test_a_symlink_that_leads_out_is_refused(client: TestClient, folder: Path) -> None:
    (folder / "link.yaml").symlink_to(folder.parent / "outside.yaml")
    assert client.get("/api/workflow", params={"path": "link.yaml"}).status_code == 400
    listed = [w["path"] for w in client.get("/api/workflows").json()["workflows"]]
    assert "link.yaml" not in listed and "canary.yaml" in listed


def test_recordings_outside_the_recordings_folder_are_refused(client: TestClient) -> None:
    for ref in ("../outside.yaml", "canary.yaml", "recordings/../../outside.json"):
        assert client.get("/api/recording", params={"ref": ref}).status_code == 400


# -- the workflows list ---------------------------------------------------------------------


def test_workflows_list_tasks_validation_schedule_and_secret_names(client: TestClient) -> None:
    files = {w["path"]: w for w in client.get("/api/workflows").json()["workflows"]}
    assert set(files) >= {"procore_images.yaml", "canary.yaml"}
    images = files["procore_images.yaml"]
    assert images["valid"] and [t["name"] for t in images["tasks"]] == ["list_images"]
    assert images["schedule"]["describe"].startswith("cron '0 6 * * *'")
    assert len(images["schedule"]["next"]) == 3
    canary = files["canary.yaml"]
    assert {"name": "STUDIO_CANARY", "set": True} in canary["secrets"]


def test_a_broken_file_lists_its_errors_with_line_and_column(
    client: TestClient, folder: Path
) -> None:
    (folder / "broken.yaml").write_text(
        "name: broken\ntasks:\n  t:\n    operation: procore.images.nope\n"
    )
    broken = client.get("/api/workflow", params={"path": "broken.yaml"}).json()
    assert not broken["valid"]
    [error] = [e for e in broken["errors"] if "procore.images.nope" in e["message"]]
    assert (error["file"], error["line"], error["column"]) == ("broken.yaml", 4, 16)


# -- search, reference, draft, save ----------------------------------------------------------


def test_search_finds_the_operation_and_shows_its_params_schema(client: TestClient) -> None:
    found = client.get("/api/search", params={"q": "images"}).json()
    assert "procore.images.list" in [r["id"] for r in found["results"]]
    assert all(r["api"] == r["id"].split(".")[0] for r in found["results"])
    reference = client.get("/api/operation", params={"id": "procore.images.list"}).json()
    assert reference["operation"]["method"] == "GET"
    assert "project_id" in reference["params_schema"]["required"]
    assert reference["profile"]["title"]
    missing = client.get("/api/operation", params={"id": "procore.nope"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["message"]


def test_a_wrong_value_is_reported_at_its_parameter(client: TestClient) -> None:
    draft = client.post(
        "/api/draft",
        json={
            "path": "new.yaml",
            "operation": "procore.images.list",
            "params": {"per_page": "abc"},
        },
    ).json()
    [error] = draft["errors"]
    assert error["path"] == "list_images.params.per_page"
    assert error["file"] == "new.yaml" and error["line"] > 1
    assert draft["text"].split("\n")[error["line"] - 1].strip().startswith("per_page:")


def test_save_writes_through_the_add_task_writer_and_keeps_comments(
    client: TestClient, folder: Path
) -> None:
    path = folder / "procore_images.yaml"
    before = path.read_text()
    current = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()
    body = {
        "path": "procore_images.yaml",
        "operation": "procore.images.list",
        "task": "recent_photos",
        "params": {"per_page": 10, "sort": "-created_at"},
        "base_sha256": current["sha256"],
    }
    saved = client.post("/api/save", json=body)
    assert saved.status_code == 200, saved.text
    after = path.read_text()
    assert after.startswith(before.split("tasks:")[0])  # the head, comments included
    assert "# re-read the last 5 minutes" in after
    assert "  recent_photos:\n    operation: procore.images.list" in after
    assert re.search(r"\n      per_page: 10   # integer", after)
    assert '      sort: "-created_at"' in after
    _files, errors = validate_paths([path], catalogue=Catalogue.load([]))
    assert errors == []


def test_a_change_on_disk_is_a_conflict_and_nothing_is_overwritten(
    client: TestClient, folder: Path
) -> None:
    path = folder / "procore_images.yaml"
    seen_sha = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()["sha256"]
    path.write_text(path.read_text() + "# edited in a text editor meanwhile\n")
    edited = path.read_text()
    body = {
        "path": "procore_images.yaml",
        "operation": "procore.images.list",
        "task": "again",
        "base_sha256": seen_sha,
    }
    conflict = client.post("/api/save", json=body)
    assert conflict.status_code == 409
    assert conflict.json()["current"] == edited  # shown to the user
    assert path.read_text() == edited  # never overwritten
    fresh = client.get("/api/workflows").json()["workflows"]
    assert [w["sha256"] for w in fresh if w["path"] == "procore_images.yaml"] != [seen_sha]


# -- editing an existing task ------------------------------------------------------------


def changed_lines(before: str, after: str) -> list[str]:
    import difflib

    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_an_edit_is_validated_as_you_type_at_the_field_and_line(
    client: TestClient, folder: Path
) -> None:
    before = (folder / "procore_images.yaml").read_text()
    task = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()["tasks"][0]
    params = {**task["params"], "per_page": "many"}
    body = {"path": "procore_images.yaml", "task": "list_images", "params": params}
    draft = client.post("/api/task/draft", json=body).json()
    [error] = draft["errors"]
    assert error["path"] == "list_images.params.per_page"
    assert error["file"] == "procore_images.yaml"
    assert draft["text"].split("\n")[error["line"] - 1].strip() == "per_page: many"
    assert changed_lines(before, draft["text"]) == ["-      per_page: 100", "+      per_page: many"]
    assert (folder / "procore_images.yaml").read_text() == before  # a draft writes nothing


def test_an_edit_is_saved_surgically_and_passes_validate(client: TestClient, folder: Path) -> None:
    path = folder / "procore_images.yaml"
    before = path.read_text()
    current = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()
    params = dict(current["tasks"][0]["params"])
    params["per_page"] = 50
    del params["sort"]
    params["page"] = 2
    body = {
        "path": "procore_images.yaml",
        "task": "list_images",
        "params": params,
        "connection": "procore",
        "base_sha256": current["sha256"],
    }
    saved = client.post("/api/task/save", json=body)
    assert saved.status_code == 200, saved.text
    after = path.read_text()
    assert saved.json()["sha256"] == hashlib.sha256(after.encode()).hexdigest()
    assert changed_lines(before, after) == [
        "-      sort: -created_at",
        "-      per_page: 100",
        "+      per_page: 50",
        "+      page: 2",
    ]
    assert '# the identity for "exactly once"' in after  # comments elsewhere kept
    _files, errors = validate_paths([path], catalogue=Catalogue.load([]))
    assert errors == []
    reread = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()
    assert reread["tasks"][0]["params"] == params


def test_an_edit_on_a_file_changed_on_disk_is_a_conflict(client: TestClient, folder: Path) -> None:
    path = folder / "procore_images.yaml"
    current = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()
    path.write_text(path.read_text().replace("per_page: 100", "per_page: 25  # an editor"))
    edited = path.read_text()
    params = {**current["tasks"][0]["params"], "per_page": 50}
    body = {
        "path": "procore_images.yaml",
        "task": "list_images",
        "params": params,
        "base_sha256": current["sha256"],
    }
    conflict = client.post("/api/task/save", json=body)
    assert conflict.status_code == 409
    assert conflict.json()["current"] == edited
    assert path.read_text() == edited  # never overwritten
    missing = client.post("/api/task/save", json={**body, "base_sha256": None})
    assert missing.status_code == 400 and path.read_text() == edited


def test_an_edit_of_a_task_that_is_not_there_says_so(client: TestClient) -> None:
    body = {"path": "procore_images.yaml", "task": "nope", "params": {}}
    answer = client.post("/api/task/draft", json=body)
    assert answer.status_code == 400
    assert "no task 'nope'" in answer.json()["errors"][0]["message"]


def test_an_edited_task_can_be_tested_before_it_is_saved(
    client: TestClient, folder: Path, emulator: Emulator
) -> None:
    before = (folder / "procore_images.yaml").read_text()
    current = client.get("/api/workflow", params={"path": "procore_images.yaml"}).json()
    params = {**current["tasks"][0]["params"], "per_page": 3}
    body = {
        "path": "procore_images.yaml",
        "task": "list_images",
        "edit": True,
        "params": params,
        "inputs": INPUTS,
    }
    job = wait_for(client, client.post("/api/test", json=body).json())
    assert job["state"] == "done", job
    assert "per_page=3" in job["result"]["request"]["url"]
    assert (folder / "procore_images.yaml").read_text() == before


def test_a_new_file_is_created_and_passes_validate(client: TestClient, folder: Path) -> None:
    (folder / "sub").mkdir()  # an existing folder: the studio creates files, not folders
    body = {
        "path": "sub/photos.yaml",
        "operation": "procore.images.list",
        "params": {"project_id": 777},
        "base_sha256": None,
    }
    assert client.post("/api/save", json=body).status_code == 200
    text = (folder / "sub" / "photos.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "project_id: 777" in text and "inputs.project_id" not in text
    assert validate_paths([folder / "sub" / "photos.yaml"], catalogue=Catalogue.load([]))[1] == []
    again = client.post("/api/save", json=body)  # it exists now: base None is stale
    assert again.status_code == 409


# -- test requests ----------------------------------------------------------------------------


def test_test_request_runs_like_test_request_and_records_with_har(
    client: TestClient, folder: Path
) -> None:
    start = client.post(
        "/api/test", json={"path": "procore_images.yaml", "task": "list_images", "inputs": INPUTS}
    )
    assert start.status_code == 202
    job = wait_for(client, start.json())
    assert job["state"] == "done", job
    result = job["result"]
    assert result["status"] == "succeeded" and result["http_status"] == 200
    assert result["request"]["headers"]["Authorization"] == "Bearer ***"
    assert result["responses"][0]["body"] and result["shown_headers"]["Total"]
    assert result["estimate"].startswith("Total")
    recording = folder / result["recording"]
    assert recording.is_file() and recording.with_suffix(".har").is_file()
    assert json.loads(recording.read_text())["workflow_file"] == str(
        folder.resolve() / "procore_images.yaml"
    )
    listed = client.get(
        "/api/recordings", params={"workflow": "procore-daily-photos", "task": "list_images"}
    ).json()["recordings"]
    assert [r["path"] for r in listed] == [result["recording"]]
    last = client.get("/api/workflows").json()["workflows"]
    [images] = [w for w in last if w["path"] == "procore_images.yaml"]
    assert images["tasks"][0]["last_test"]["http_status"] == 200


def test_a_429_then_success_shows_the_wait(client: TestClient, emulator: Emulator) -> None:
    emulator.set_faults("429:retry-after=1@1")
    body = {"path": "procore_images.yaml", "task": "list_images", "inputs": INPUTS}
    job = wait_for(client, client.post("/api/test", json=body).json())
    attempts = [a for a in job["result"]["attempts"] if a["purpose"] == "request"]
    assert [a["status"] for a in attempts] == [429, 200]
    assert attempts[0]["wait_before_next"] == 1.0
    assert job["result"]["status"] == "succeeded"


def test_a_running_test_can_be_cancelled(client: TestClient, emulator: Emulator) -> None:
    emulator.set_faults("slow:delay=3@1")
    body = {"path": "procore_images.yaml", "task": "list_images", "inputs": INPUTS}
    job = client.post("/api/test", json=body).json()
    time.sleep(0.3)  # the request is on the wire, the emulator holding it
    cancelled = client.post(f"/api/test/{job['id']}/cancel").json()
    assert "cancelling" in " ".join(cancelled["notes"])
    assert wait_for(client, cancelled)["state"] == "cancelled"


def image_requests(emulator: Emulator) -> int:
    return len([r for r in emulator.request_log if r.path == "/rest/v1.0/images"])


def test_cancel_ends_a_retry_after_wait_and_sends_nothing_more(
    client: TestClient, emulator: Emulator
) -> None:
    # The first answer is 429 with Retry-After: 30; the client would wait 30 s and retry.
    emulator.set_faults("429:retry-after=30@1")
    body = {"path": "procore_images.yaml", "task": "list_images", "inputs": INPUTS}
    job = client.post("/api/test", json=body).json()
    deadline = time.monotonic() + 20
    while image_requests(emulator) < 1:
        assert time.monotonic() < deadline, "the test request never reached the emulator"
        time.sleep(0.02)
    client.post(f"/api/test/{job['id']}/cancel")
    # well under the 30 s wait: the cancel woke it rather than waiting it out
    done = wait_for(client, job, timeout=10.0)
    assert done["state"] == "cancelled"
    assert image_requests(emulator) == 1  # the retry was never sent
    attempts = [a for a in done["result"]["attempts"] if a["purpose"] == "request"]
    assert [a["status"] for a in attempts] == [429]
    assert attempts[0]["wait_before_next"] == 30.0
    assert done["result"]["status"] == "interrupted", done["result"].get("error")
    assert done["result"]["error"].startswith("procore_images.yaml:")  # not a private copy
    assert "stopped during a wait of 30.0s" in done["result"]["error"]
    assert done["result"]["recording"]  # what it got before the cancel is kept


def test_shutdown_cancels_running_tests(client: TestClient, emulator: Emulator) -> None:
    from task_runner.studio.app import wait_for_jobs

    emulator.set_faults("429:retry-after=30@1")
    body = {"path": "procore_images.yaml", "task": "list_images", "inputs": INPUTS}
    job = client.post("/api/test", json=body).json()
    deadline = time.monotonic() + 20
    while image_requests(emulator) < 1:
        assert time.monotonic() < deadline, "the test request never reached the emulator"
        time.sleep(0.02)
    wait_for_jobs(client.app, timeout=10.0)  # type: ignore[arg-type]
    assert client.get(f"/api/test/{job['id']}").json()["state"] == "cancelled"
    assert image_requests(emulator) == 1


def test_cancel_ends_a_rate_limit_pause(
    client: TestClient, emulator: Emulator, folder: Path
) -> None:
    # The connection's own budget (1 request per 60 s) makes the second page wait.
    original = (folder / "procore_images.yaml").read_text()
    text = original.replace(
        "    api: procore\n", "    api: procore\n    rate_limit: {requests: 1, per: 60s}\n", 1
    ).replace("per_page: 100", "per_page: 2", 1)  # a second page to wait for
    assert text.count("rate_limit") == 1 and "per_page: 2" in text
    (folder / "limited.yaml").write_text(text)
    body = {"path": "limited.yaml", "task": "list_images", "inputs": INPUTS, "pages": 2}
    job = client.post("/api/test", json=body).json()
    deadline = time.monotonic() + 20
    while image_requests(emulator) < 1:
        assert time.monotonic() < deadline, "the test request never reached the emulator"
        time.sleep(0.02)
    client.post(f"/api/test/{job['id']}/cancel")
    done = wait_for(client, job, timeout=10.0)
    assert done["state"] == "cancelled"
    assert image_requests(emulator) == 1


def test_input_mistakes_come_back_with_their_place(client: TestClient) -> None:
    body = {"path": "procore_images.yaml", "task": "list_images", "inputs": {"company_id": "x"}}
    job = wait_for(client, client.post("/api/test", json=body).json())
    assert job["state"] == "invalid"
    paths = {e["path"] for e in job["result"]["errors"]}
    assert "inputs.company_id" in paths or any("company_id" in (p or "") for p in paths)


def test_a_draft_can_be_tested_before_it_is_saved(client: TestClient, folder: Path) -> None:
    body = {
        "path": "draft.yaml",
        "operation": "procore.images.list",
        "params": {"per_page": 3},
        "inputs": INPUTS,
    }
    job = wait_for(client, client.post("/api/test", json=body).json())
    assert job["state"] == "done", job
    assert job["result"]["http_status"] == 200 and len(job["result"]["responses"][0]["body"]) == 3
    assert not (folder / "draft.yaml").exists()  # tested, not written


def test_the_canary_secret_never_reaches_the_browser(
    client: TestClient, folder: Path, seen: Recorder
) -> None:
    body = {"path": "canary.yaml", "task": "photos", "inputs": INPUTS}
    job = wait_for(client, client.post("/api/test", json=body).json())
    assert job["state"] == "done", job
    assert job["result"]["request"]["headers"]["X-Canary"] == "***"  # sent, and masked
    recording = job["result"]["recording"]
    client.get("/api/recording", params={"ref": recording})
    client.get("/api/workflows")
    client.get("/api/workflow", params={"path": "canary.yaml"})
    client.post("/api/draft", json={"path": "canary.yaml", "operation": "procore.images.list"})
    # an edit that puts the secret into a query parameter: drafted, tested, never shown
    task = client.get("/api/workflow", params={"path": "canary.yaml"}).json()["tasks"][0]
    params = {**task["params"], "filters[query]": "{{ secrets.STUDIO_CANARY }}"}
    edit = {"path": "canary.yaml", "task": "photos", "params": params, "inputs": INPUTS}
    drafted = client.post("/api/task/draft", json=edit).json()
    assert "{{ secrets.STUDIO_CANARY }}" in drafted["text"]  # the template, not its value
    edited = wait_for(client, client.post("/api/test", json={**edit, "edit": True}).json())
    assert edited["state"] == "done", edited
    assert "filters%5Bquery%5D=***" in edited["result"]["request"]["url"]
    client.get("/api/recordings", params={"workflow": "canary"})
    client.get("/")
    assert len(seen.bodies) >= 10
    for body_text in seen.bodies:
        assert CANARY not in body_text
    for written in folder.rglob("*"):
        if written.is_file():
            assert CANARY not in written.read_text(errors="replace"), written


# -- runs, recordings' drift ------------------------------------------------------------------


def test_drift_between_two_recordings(client: TestClient) -> None:
    body = {"path": "procore_images.yaml", "task": "list_images", "inputs": INPUTS}
    first = wait_for(client, client.post("/api/test", json=body).json())["result"]["recording"]
    second = wait_for(client, client.post("/api/test", json=body).json())["result"]
    assert second["review"]["drift"]["before"]["path"].endswith(Path(first).name)
    drift = client.get("/api/drift", params={"before": first, "after": second["recording"]})
    assert drift.status_code == 200 and "summary" in drift.json()


def test_runs_come_from_the_history_under_the_folder(client: TestClient, folder: Path) -> None:
    assert client.get("/api/runs").json()["runs"] == []
    from task_runner.cli import main

    os.environ["TASK_RUNNER_STATE_DIR"] = str(folder / ".task-runner")
    code = main(
        ["run", str(folder / "procore_images.yaml"), "--emulator"]
        + [f"-i{k}={v}" for k, v in INPUTS.items()]
    )
    assert code == 0
    client.app.state.studio.config.environ = dict(os.environ)  # type: ignore[attr-defined]
    [run] = client.get("/api/runs").json()["runs"]
    assert run["workflow"] == "procore-daily-photos" and run["status"] == "succeeded"
    shown = client.get("/api/run", params={"id": run["id"]}).json()
    assert shown["tasks"][0]["task"] == "list_images"


# -- the command -------------------------------------------------------------------------------


def test_the_command_serves_with_a_token_and_warns_on_all_interfaces(folder: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "task_runner",
            "studio",
            str(folder),
            "--no-browser",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines = []
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            lines.append(line)
            found = re.search(r"(http://\S+\?token=\S+)", line)
            url = found.group(1) if found else None
        assert url, lines
        assert any("warning: --host 0.0.0.0" in line for line in lines)
        base = url.split("?")[0]
        assert requests.get(base, timeout=5).status_code == 403
        assert requests.get(url, timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr:
            process.stderr.close()


def test_the_command_refuses_a_missing_folder(tmp_path: Path) -> None:
    from task_runner.cli import main

    assert main(["studio", str(tmp_path / "nope"), "--no-browser"]) == 2


def test_the_page_ships_inside_the_package() -> None:
    """Every static file is package data (so the wheel has it) and the page names no
    outside URL (works offline: no CDN)."""
    from fnmatch import fnmatch
    from importlib import resources

    import tomllib

    static = resources.files("task_runner.studio").joinpath("static")
    names = sorted(f.name for f in static.iterdir() if f.is_file())
    assert {"index.html", "studio.js", "studio.css"} <= set(names)
    pyproject = tomllib.loads((EXAMPLES.parent.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["task_runner.studio"]
    for name in names:
        assert any(fnmatch(f"static/{name}", pattern) for pattern in patterns), name
        text = static.joinpath(name).read_text(encoding="utf-8")
        text = re.sub(r'xmlns="[^"]*"', "", text)  # an SVG's namespace is a name, not a fetch
        assert not re.search(r"https?://|(src|href)=\"//", text), name


def test_a_file_that_is_not_yaml_is_named_in_the_error(client: TestClient, folder: Path) -> None:
    (folder / "bad.yaml").write_text("name: [unclosed\n")
    answer = client.post(
        "/api/draft", json={"path": "bad.yaml", "operation": "procore.images.list"}
    )
    assert answer.status_code == 400
    message = answer.json()["errors"][0]["message"]
    assert message.startswith("bad.yaml is not valid YAML") and "task-runner-studio" not in message
    listed = {w["path"]: w for w in client.get("/api/workflows").json()["workflows"]}
    assert not listed["bad.yaml"]["valid"] and listed["bad.yaml"]["errors"][0]["line"] == 1
