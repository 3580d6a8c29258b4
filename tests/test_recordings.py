"""The recording store: atomic files, lookups, redaction, and the recordings command."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from task_runner.cli import main
from task_runner.errors import OutputError
from task_runner.recording.recorder import preset_output
from task_runner.recording.store import (
    FORMAT,
    FORMAT_VERSION,
    RecordingStore,
    atomic_write_text,
    timestamp_name,
)
from task_runner.redact import REDACTOR

T0 = dt.datetime(2026, 11, 27, 22, 0, 0, tzinfo=dt.timezone.utc)


def _recording(workflow: str = "wf", task: str = "photos", **extra: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "recorded_at": extra.pop("recorded_at", "2026-11-27T22:00:00.000Z"),
        "workflow": workflow,
        "task": task,
        "operation": "procore.images.list",
        "inputs": {"project_id": 777},
        "request": {"method": "GET", "url": "https://x.invalid/images", "headers": {}},
        "responses": [
            {"page": 1, "status": 200, "reason": "OK", "headers": {"Total": "3"}, "body": [1, 2]},
            {"page": 2, "status": 200, "reason": "OK", "headers": {}, "body": [3]},
        ],
        "attempts": [],
        "result": {"status": "succeeded", "http_status": 200},
        **extra,
    }


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_write_puts_the_file_under_workflow_task_and_utc_time(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    path = store.write(_recording(), when=T0)
    assert path == tmp_path / "wf" / "photos" / "20261127T220000.000000Z.json"
    assert json.loads(path.read_text())["task"] == "photos"
    again = store.write(_recording(), when=T0)  # same instant: both kept
    assert again.name == "20261127T220000.000000Z-1.json"


def test_timestamps_sort_as_text_and_are_utc() -> None:
    later = dt.datetime(2026, 11, 28, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert timestamp_name(later) == "20261127T223000.000000Z"
    assert timestamp_name(T0) < timestamp_name(later)


def test_names_cannot_escape_the_root(tmp_path: Path) -> None:
    path = RecordingStore(tmp_path / "r").write(_recording("../../etc", "../x"), when=T0)
    assert (tmp_path / "r") in path.parents


def test_a_failing_replace_leaves_no_file_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OutputError, match="No space left"):
        RecordingStore(tmp_path).write(_recording(), when=T0)
    assert _files(tmp_path) == []  # neither the recording nor its temp file


def test_a_failing_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.json"
    target.write_text('{"old": true}')

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write_text(target, '{"new": true}' * 1000)
    assert json.loads(target.read_text()) == {"old": True}  # the old file, whole
    assert _files(tmp_path) == ["a.json"]


def test_a_process_killed_while_writing_leaves_no_recording(tmp_path: Path) -> None:
    # The child writes the temp file, then dies (os._exit) where os.replace would run.
    script = textwrap.dedent(
        f"""
        import os
        from task_runner.recording.store import RecordingStore
        os.replace = lambda src, dst: os._exit(9)
        RecordingStore({str(tmp_path)!r}).write({_recording()!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == 9
    store = RecordingStore(tmp_path)
    assert store.paths() == [] and store.list() == []  # the dot-temp file is never listed
    assert all(name.startswith(".") for name in _files(tmp_path))


def test_list_latest_and_resolve(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    first = store.write(_recording(recorded_at="2026-11-27T22:00:00Z"), when=T0)
    second = store.write(
        _recording(recorded_at="2026-11-27T23:00:00Z"), when=T0 + dt.timedelta(hours=1)
    )
    other = store.write(_recording("other", "t"), when=T0)
    assert store.latest("wf", "photos") == second
    assert store.resolve("wf/photos") == second
    assert store.resolve(str(first)) == first
    assert [i.path for i in store.list("wf")] == [first, second]
    assert {i.path for i in store.list()} == {first, second, other}
    assert store.latest("wf", "nothing") is None


def test_a_secret_registered_anywhere_is_masked_in_the_file(tmp_path: Path) -> None:
    secret = "recording-canary-5d1c0e"
    REDACTOR.add(secret)
    recording = _recording(request={"method": "GET", "url": f"https://x.invalid/?k={secret}"})
    recording["responses"][0]["body"] = [{"token": secret}]
    path = RecordingStore(tmp_path).write(recording, when=T0)
    assert secret not in path.read_text()


def test_preset_output_rebuilds_what_a_task_gave_its_dependents() -> None:
    output = preset_output(_recording())
    assert output is not None
    assert output["items"] == [1, 2, 3] and output["body"] == [1, 2, 3]
    assert output["status"] == 200 and output["headers"] == {"Total": "3"}
    assert output["item_count"] == 3
    failed = _recording(result={"status": "failed"})
    assert preset_output(failed) is None


def test_recordings_list_show_and_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    store = RecordingStore(tmp_path / "recordings")
    path = store.write(_recording(), when=T0)
    store.write(_recording("other", "t"), when=T0)

    assert main(["recordings", "list", "wf", "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in listed["recordings"]] == [str(path.relative_to(tmp_path))]

    workflow_file = tmp_path / "wf.yaml"
    workflow_file.write_text("name: wf\ntasks: {}\n")
    assert main(["recordings", "list", str(workflow_file)]) == 0
    text = capsys.readouterr().out
    assert "wf/photos" in text and "other/t" not in text

    assert main(["recordings", "show", "wf/photos"]) == 0
    shown = capsys.readouterr().out
    assert "GET https://x.invalid/images" in shown and "page 2: 200 OK" in shown

    assert main(["recordings", "show", "wf/photos", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["operation"] == "procore.images.list"

    assert main(["recordings", "show", "nope/nothing"]) == 2
    assert "no recording 'nope/nothing'" in capsys.readouterr().err


def test_a_foreign_json_file_is_not_a_recording(tmp_path: Path) -> None:
    (tmp_path / "wf" / "t").mkdir(parents=True)
    (tmp_path / "wf" / "t" / "x.json").write_text('{"hello": 1}')
    store = RecordingStore(tmp_path)
    assert store.list() == []
    from task_runner.errors import LoadError

    with pytest.raises(LoadError, match="not a task-runner recording"):
        store.load("wf/t")
