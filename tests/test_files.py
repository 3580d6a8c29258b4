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
from task_runner.errors import InputErrors
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


@pytest.mark.parametrize(
    "path",
    [
        "../../escape/{{ item.id }}.jpg",
        "/tmp/escape/{{ item.id }}.jpg",
        "photos/../../escape/{{ item.id }}.jpg",
        "~/escape/{{ item.id }}.jpg",
        "photos\\..\\..\\{{ item.id }}.jpg",
    ],
    ids=["dotdot", "absolute", "dotdot-inside", "home", "backslashes"],
)
def test_a_static_path_that_leaves_its_folder_is_a_load_error_at_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    from task_runner.cli import main

    workflow = photos_workflow(tmp_path)
    text = workflow.read_text(encoding="utf-8")
    workflow.write_text(
        text.replace(
            "photos/{{ item.id }}{{ item.filename | extension }}", path.replace("\\", "\\\\")
        ),
        encoding="utf-8",
    )
    line = next(
        n
        for n, t in enumerate(workflow.read_text(encoding="utf-8").splitlines(), 1)
        if "path:" in t
    )
    with pytest.raises(InputErrors) as caught:
        load_workflow(workflow)
    (error,) = caught.value.errors
    assert (error.location.line, error.path) == (line, "download.output.files.path")
    assert "output.files.path" in error.message and "retry" not in error.format()
    # validate and run stop at load, before anything is sent: exit 2
    assert main(["validate", str(workflow)]) == 2
    assert main(["run", str(workflow), "-i", "company_id=8089", "-i", "project_id=777"]) == 2
    assert f"wf.yaml:{line}:" in capsys.readouterr().err
    assert not (tmp_path.parent / "escape").exists() and not Path("/tmp/escape").exists()


def test_a_value_that_takes_the_path_out_is_refused_per_item_without_a_retry_hint(
    tmp_path: Path,
) -> None:
    def answer(req: Any) -> Reply:
        if req.path.startswith("/list"):
            return Reply(200, [{"id": 1, "name": "../escape.png"}, {"id": 2, "name": "ok.png"}])
        return Reply(200, b"data", {"Content-Type": "image/png"})

    with TestServer(answer) as server:
        data = {
            "name": "names",
            "connections": {"api": {"base_url": server.url}},
            "tasks": {
                "list": {"connection": "api", "request": {"url": "/list"}},
                "get": {
                    "for_each": {
                        "items": "{{ tasks.list.output.items }}",
                        "on_failure": "continue",
                    },
                    "connection": "api",
                    "url": "/file.bin",
                    "output": {"files": {"path": "out/{{ item.name }}"}},
                },
            },
        }
        workflow = load_workflow(write_workflow(tmp_path / "names.yaml", data))
        result = execute(
            workflow, {}, options=ExecutionOptions(checkpoint_dir=str(tmp_path / "cp"))
        )
    task = result.tasks["get"]
    assert result.status == "failed"
    assert "'out/../escape.png' leaves its folder" in (task.error or "")
    assert "--run-id" not in (task.error or "") and "retry" not in (task.error or "")
    assert Path("out/ok.png").read_bytes() == b"data"  # the other item was saved
    assert not (tmp_path / "escape.png").exists()


def test_the_listing_size_is_the_size_the_file_host_serves(
    tmp_path: Path, emulator: Emulator
) -> None:
    result = run(photos_workflow(tmp_path), emulator)
    assert result.status == "succeeded", result.tasks["download"].error
    listed = {i["id"]: i["size"] for i in (result.tasks["list_images"].response or {})["items"]}
    assert len(listed) == 12
    for image_id, size in listed.items():
        path = Path(f"photos/{image_id}.jpg")
        assert path.stat().st_size == size == len(file_bytes(image_id))


def test_the_run_reports_what_each_sink_wrote_and_counts_items_once(
    tmp_path: Path, emulator: Emulator
) -> None:
    import yaml

    spec = yaml.safe_load(photos_workflow(tmp_path).read_text(encoding="utf-8"))
    spec["tasks"]["download"]["output"]["duckdb"] = {"path": "p.duckdb", "table": "files"}
    spec["tasks"]["list_images"]["output"] = {"duckdb": {"path": "p.duckdb", "table": "images"}}
    path = write_workflow(tmp_path / "wf.yaml", spec)
    first = run(path, emulator).to_json()
    assert first["status"] == "succeeded", first["error"]
    assert first["item_count"] == 12  # the 12 photos, not 12 records + 12 files
    download = first["tasks"]["download"]["sinks"]
    sizes = sum(len(file_bytes(int(Path(p).stem))) for p in download["files"]["paths"])
    assert download["files"] == {
        "written": 12,
        "skipped": 0,
        "checked": 0,
        "bytes": sizes,
        "paths": sorted(download["files"]["paths"]),
    }
    assert download["duckdb"] == {
        "path": "p.duckdb",
        "table": "files",
        "write": "merge",
        "rows": 12,
        "inserted": 12,
        "updated": 0,
    }
    assert first["tasks"]["list_images"]["sinks"]["duckdb"]["inserted"] == 12
    again = run(path, emulator).to_json()
    files = again["tasks"]["download"]["sinks"]["files"]
    assert (files["written"], files["skipped"], files["bytes"]) == (0, 12, 0)
    assert again["tasks"]["download"]["sinks"]["duckdb"]["updated"] == 12
    assert again["tasks"]["list_images"]["sinks"]["duckdb"]["inserted"] == 0


def test_a_refused_connection_says_where_and_the_hint_fits_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from task_runner.cli import main

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with TestServer(lambda req: Reply(200, [{"id": 1}, {"id": 2}])) as server:
        data = {
            "name": "gone",
            "connections": {"api": {"base_url": server.url, "allowed_hosts": ["127.0.0.1"]}},
            "tasks": {
                "list": {"connection": "api", "request": {"url": "/list"}},
                "get": {
                    "for_each": {
                        "items": "{{ tasks.list.output.items }}",
                        "on_failure": "continue",
                    },
                    "connection": "api",
                    "url": f"http://127.0.0.1:{port}/file.bin",  # the same for each item
                    "retry": {"max_attempts": 1},
                    "output": {"files": {"path": "out/{{ item.id }}.bin"}},
                },
            },
        }
        path = write_workflow(tmp_path / "gone.yaml", data)
        result = execute(
            load_workflow(path), {}, options=ExecutionOptions(checkpoint_dir=str(tmp_path / "cp"))
        )
        error = result.tasks["get"].error or ""
        assert f"connection refused by 127.0.0.1:{port}" in error
        assert error.count("connection refused") == 1  # said once for both items
        assert f"--run-id {result.run_id}" in error  # run keeps a checkpoint: retry the failed
        record = ["--record-dir", str(tmp_path / "rec")]
        for _ in range(2):  # the second one has a recording to compare with
            assert main(["test-request", str(path), "--task", "get", *record]) == 1
            err = capsys.readouterr().err
            assert f"connection refused by 127.0.0.1:{port}" in err
            assert "--run-id" not in err and "drift" not in err


def test_test_request_prints_each_checked_file_and_runs_again_on_a_new_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from task_runner.cli import main

    example = (
        Path(__file__).parent.parent / "examples" / "workflows" / "procore_photos_to_duckdb.yaml"
    )
    args = ["test-request", str(example), "--task", "download_photos", "--emulator"]
    args += ["-i", "company_id=8089", "-i", "project_id=777", "--record-dir", str(tmp_path / "r")]
    args += ["--items", "2"]
    printed = []
    for _ in range(2):  # the second reuses list_photos's recording from another emulator
        assert main(args) == 0, capsys.readouterr().err
        printed.append(capsys.readouterr())
    assert "output taken from its recording" in printed[1].err
    for captured in printed:
        lines = [line for line in captured.out.splitlines() if line.startswith("  item ")]
        assert len(lines) == 2
        for line in lines:
            image_id = int(line.split("(")[1].split(")")[0])
            body = file_bytes(image_id)
            assert line.endswith(
                f"200 image/jpeg {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()}"
            )
    assert not Path("photos").exists()  # test-request checks files, never writes them


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


def test_an_emulator_recording_is_pointed_at_the_next_emulator() -> None:
    from task_runner.recording.session import rebase_emulated

    output = {
        "items": [
            {"url": "http://localhost:4100/images/1/original/a.jpg", "note": "localhost:4100"},
            {"url": "http://127.0.0.1:4100/rest/v1.0/images?page=2"},
            {"url": "http://localhost:5000/other", "size": 4100},
            {"url": "https://storage.procore.com:4100/a.jpg"},
        ]
    }
    moved = rebase_emulated(output, "http://127.0.0.1:4100", "http://127.0.0.1:4200")
    assert [i["url"] for i in moved["items"]] == [
        "http://localhost:4200/images/1/original/a.jpg",
        "http://127.0.0.1:4200/rest/v1.0/images?page=2",
        "http://localhost:5000/other",  # another port: not that emulator's
        "https://storage.procore.com:4100/a.jpg",  # not a loopback host
    ]
    assert moved["items"][0]["note"] == "localhost:4100" and moved["items"][2]["size"] == 4100
    assert rebase_emulated(output, "https://api.procore.com", "http://127.0.0.1:1") == output


def test_the_file_host_answers_on_the_api_port_by_its_own_host_name(emulator: Emulator) -> None:
    import requests

    assert emulator.files is not None
    image = next(iter(emulator.data.iter_attrs(777)))
    path = f"/images/{image.id}/original/x.jpg"
    files = requests.get(f"{emulator.files_origin}{path}", timeout=5)
    assert emulator.files_origin == f"http://localhost:{emulator.port}"
    assert files.status_code == 200 and files.content == file_bytes(image.id)
    api = requests.get(f"{emulator.base_url}{path}", timeout=5)  # the API has no such path
    assert api.status_code == 404 and api.headers["Content-Type"].startswith("application/json")
