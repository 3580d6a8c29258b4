"""output.files: response bodies on disk, against the emulator's second (file) host and
scripted servers: whole files only, size and sha256 recorded, Content-Type and
Content-Length checked, identical files skipped, credentials only where allowed."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from task_runner.emulator import Emulator
from task_runner.emulator.files import file_bytes
from task_runner.redact import REDACTOR
from task_runner.runner import ExecutionOptions, execute
from task_runner.runner.emulated import emulated_connections
from task_runner.workflow import load_workflow
from tests.httpserver import Reply, TestServer
from tests.runs_support import CONNECTION, images_task, write_workflow

INPUTS = {"company_id": 8089, "project_id": 777}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(images=12, serve_files=True) as em:
        yield em


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # file paths are relative to the working directory


def photos_workflow(tmp_path: Path, *, allowed: bool = True, **files: Any) -> Path:
    connection = dict(CONNECTION)
    if not allowed:
        connection["allowed_hosts"] = []
    data = {
        "name": "photos",
        "inputs": {"company_id": {"type": "integer"}, "project_id": {"type": "integer"}},
        "connections": {"procore": connection},
        "tasks": {
            "list_images": {**images_task(per_page=100), "paginate": "all"},
            "download": {
                "for_each": {
                    "items": "{{ tasks.list_images.output.items }}",
                    "on_failure": "continue",
                },
                "connection": "procore",
                "url": "{{ item.url }}",
                "retry": {"max_attempts": 2, "initial_interval": "10ms"},
                "output": {
                    "files": {
                        "path": "photos/{{ item.id }}{{ item.filename | extension }}",
                        **files,
                    }
                },
            },
        },
    }
    return write_workflow(tmp_path / "wf.yaml", data)


def run(path: Path, emulator: Emulator, *, allow_files_host: bool = True, **options: Any) -> Any:
    workflow = load_workflow(path)
    overrides = emulated_connections(workflow, emulator)
    if not allow_files_host:
        overrides = {
            name: type(c)(**{**c.__dict__, "allowed_hosts": frozenset()})
            for name, c in overrides.items()
        }
    return execute(
        workflow, INPUTS, options=ExecutionOptions(connection_overrides=overrides, **options)
    )


def test_photos_are_downloaded_whole_with_size_and_sha256(
    tmp_path: Path, emulator: Emulator
) -> None:
    result = run(photos_workflow(tmp_path), emulator)
    task = result.tasks["download"]
    assert result.status == "succeeded", task.error
    rows = (task.response or {})["items"]
    assert len(rows) == 12
    for row in rows:
        expected = file_bytes(row["id"])
        assert Path(row["path"]).read_bytes() == expected
        assert row["size"] == len(expected)
        assert row["sha256"] == hashlib.sha256(expected).hexdigest()
        assert row["content_type"] == "image/jpeg" and row["skipped"] is False
    assert not [p for p in Path("photos").iterdir() if p.name.startswith(".")]  # no temp left


def test_credentials_never_go_to_the_file_host(tmp_path: Path, emulator: Emulator) -> None:
    run(photos_workflow(tmp_path), emulator)
    assert emulator.files is not None and emulator.files.requests
    for request in emulator.files.requests:
        names = {k.lower() for k in request["headers"]}
        assert "authorization" not in names and "procore-company-id" not in names
        assert "cookie" not in names


def test_a_file_host_not_allowed_is_refused_and_nothing_is_sent(
    tmp_path: Path, emulator: Emulator
) -> None:
    result = run(photos_workflow(tmp_path), emulator, allow_files_host=False)
    task = result.tasks["download"]
    assert result.status == "failed"
    assert "not the connection procore's host or in its allowed_hosts" in (task.error or "")
    assert emulator.files is not None and emulator.files.requests == []
    assert not Path("photos").exists() or not any(Path("photos").iterdir())


def test_an_identical_file_is_skipped_and_a_changed_one_replaced(
    tmp_path: Path, emulator: Emulator
) -> None:
    path = photos_workflow(tmp_path)
    run(path, emulator)
    first = sorted(Path("photos").iterdir())
    changed = first[0]
    changed.write_bytes(b"tampered")
    stamp = first[1].stat().st_mtime_ns
    rows = (run(path, emulator).tasks["download"].response or {})["items"]
    by_path = {row["path"]: row for row in rows}
    assert by_path[str(changed)]["skipped"] is False
    assert changed.read_bytes() != b"tampered"
    assert by_path[str(first[1])]["skipped"] is True
    assert first[1].stat().st_mtime_ns == stamp  # left alone


def test_an_unexpected_content_type_is_refused(tmp_path: Path, emulator: Emulator) -> None:
    result = run(photos_workflow(tmp_path, content_types=["application/pdf"]), emulator)
    task = result.tasks["download"]
    assert result.status == "failed"
    assert "Content-Type image/jpeg is not one of application/pdf" in (task.error or "")
    assert not Path("photos").exists() or not any(Path("photos").iterdir())


def _url_workflow(tmp_path: Path, server: TestServer, **task: Any) -> Path:
    data = {
        "name": "one-file",
        "connections": {"files": {"base_url": server.url}},
        "tasks": {
            "get": {
                "connection": "files",
                "url": "/file.bin",
                "retry": {"max_attempts": 2, "initial_interval": "10ms"},
                "output": {"files": {"path": "out/file.bin"}},
                **task,
            }
        },
    }
    return write_workflow(tmp_path / "one.yaml", data)


def test_a_body_shorter_than_its_content_length_is_retried_then_fails_without_a_file(
    tmp_path: Path,
) -> None:
    with TestServer() as server:
        server.script(
            Reply(200, b"x" * 1000, {"Content-Type": "application/octet-stream"}, truncate=100),
            Reply(200, b"x" * 1000, {"Content-Type": "application/octet-stream"}, truncate=100),
            path="/file.bin",
        )
        result = execute(load_workflow(_url_workflow(tmp_path, server)), {})
        assert len(server.requests_to("/file.bin")) == 2
    assert result.status == "failed"
    assert not Path("out/file.bin").exists()
    assert not [p for p in Path("out").iterdir()] if Path("out").exists() else True


def test_an_html_page_served_as_a_file_is_refused(tmp_path: Path) -> None:
    with TestServer(
        lambda req: Reply(200, b"<html>login</html>", {"Content-Type": "text/html"})
    ) as server:
        result = execute(load_workflow(_url_workflow(tmp_path, server)), {})
    assert result.status == "failed"
    assert "answered an HTML page" in (result.tasks["get"].error or "")
    assert not Path("out/file.bin").exists()


def test_a_single_url_task_writes_its_file(tmp_path: Path) -> None:
    body = os.urandom(5000)
    with TestServer(lambda req: Reply(200, body, {"Content-Type": "application/zip"})) as server:
        result = execute(load_workflow(_url_workflow(tmp_path, server)), {})
    assert result.status == "succeeded", result.error
    assert Path("out/file.bin").read_bytes() == body
    record = (result.tasks["get"].response or {})["body"]
    assert record["sha256"] == hashlib.sha256(body).hexdigest() and record["size"] == 5000


def test_a_path_that_leaves_its_folder_is_refused(tmp_path: Path) -> None:
    with TestServer(lambda req: Reply(200, b"data", {"Content-Type": "image/png"})) as server:
        path = _url_workflow(tmp_path, server, output={"files": {"path": "../{{ 'escape' }}.png"}})
        result = execute(load_workflow(path), {})
    assert result.status == "failed"
    assert "must be relative and stay in its folder" in (result.tasks["get"].error or "")
    assert not (tmp_path.parent / "escape.png").exists()


def test_test_request_checks_files_but_does_not_write_them(
    tmp_path: Path, emulator: Emulator
) -> None:
    result = run(photos_workflow(tmp_path), emulator, publish=False, max_items=2)
    assert result.status == "succeeded", result.error
    rows = (result.tasks["download"].response or {})["items"]
    assert len(rows) == 2 and all(r["written"] is False for r in rows)
    assert not Path("photos").exists()


def test_a_secret_never_lands_in_a_files_metadata(tmp_path: Path) -> None:
    canary = "file-canary-7d1e44aa90"
    REDACTOR.add(canary, source="test")
    body = f"a file that mentions {canary}".encode()
    with TestServer(
        lambda req: Reply(200, body, {"Content-Type": f"application/x-{canary}"})
    ) as server:
        path = _url_workflow(
            tmp_path,
            server,
            output={"files": {"path": "out/file.bin"}, "jsonl": "out/files.jsonl"},
        )
        result = execute(load_workflow(path), {})
    assert result.status == "succeeded", result.error
    assert Path("out/file.bin").read_bytes() == body  # the file is the file
    assert canary not in json.dumps(result.to_json())
    assert canary not in Path("out/files.jsonl").read_text()


def _redirecting(tmp_path: Path, api: TestServer, allowed: list[str], **files: Any) -> Path:
    data = {
        "name": "redirects",
        "connections": {
            "api": {
                "base_url": api.url,
                "auth": {"type": "bearer", "token": "{{ secrets.FILE_TEST_TOKEN }}"},
                "headers": {"X-Team": "site-a"},
                "allowed_hosts": allowed,
            }
        },
        "tasks": {
            "get": {
                "connection": "api",
                "url": "/file.bin",
                "retry": {"max_attempts": 1},
                "output": {"files": {"path": "out/file.bin", **files}},
            }
        },
    }
    return write_workflow(tmp_path / "redirects.yaml", data)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "file-token-canary-51e0c8a2"
    monkeypatch.setenv("FILE_TEST_TOKEN", value)
    return value


def test_a_redirect_to_an_allowed_host_is_followed_without_credentials(
    tmp_path: Path, token: str
) -> None:
    body = os.urandom(3000)
    with (
        TestServer(lambda req: Reply(200, body, {"Content-Type": "image/jpeg"})) as storage,
        TestServer() as api,
    ):
        where = f"http://localhost:{storage.port}/real.jpg?sig=abc"
        api.route("/file.bin", lambda req: Reply(302, b"", {"Location": where}))
        result = execute(load_workflow(_redirecting(tmp_path, api, ["localhost"])), {})
        assert result.status == "succeeded", result.error
        assert api.requests[0].header("Authorization") == f"Bearer {token}"  # its own origin
        sent = storage.requests[0]
    assert sent.header("Authorization") is None and sent.header("X-Team") is None
    assert Path("out/file.bin").read_bytes() == body
    assert token not in json.dumps(result.to_json())


def test_a_redirect_to_a_host_not_allowed_is_refused(tmp_path: Path, token: str) -> None:
    with TestServer(lambda req: Reply(200, b"x", {"Content-Type": "image/jpeg"})) as storage:
        with TestServer() as api:
            where = f"http://localhost:{storage.port}/real.jpg"
            api.route("/file.bin", lambda req: Reply(302, b"", {"Location": where}))
            result = execute(load_workflow(_redirecting(tmp_path, api, [])), {})
        assert storage.requests == []
    assert result.status == "failed"
    assert "redirected (302)" in (result.tasks["get"].error or "")
    assert not Path("out").exists() or not any(Path("out").iterdir())


def test_a_file_larger_than_max_bytes_is_refused_without_a_file(tmp_path: Path, token: str) -> None:
    big = os.urandom(200_000)
    with TestServer(lambda req: Reply(200, big, {"Content-Type": "video/mp4"})) as api:
        result = execute(load_workflow(_redirecting(tmp_path, api, [], max_bytes=100_000)), {})
    assert result.status == "failed"
    assert "larger than output.files.max_bytes" in (result.tasks["get"].error or "")
    assert not Path("out/file.bin").exists()
    assert not any(Path("out").iterdir()) if Path("out").exists() else True


def test_a_refused_status_names_the_url_and_the_start_of_the_body(
    tmp_path: Path, token: str
) -> None:
    with TestServer(lambda req: Reply(403, "AccessDenied: expired signature")) as api:
        result = execute(load_workflow(_redirecting(tmp_path, api, [])), {})
    error = result.tasks["get"].error or ""
    assert result.status == "failed" and result.tasks["get"].http_status == 403
    assert "answered 403" in error and "AccessDenied: expired signature" in error
