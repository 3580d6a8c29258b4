"""The SQLite run history: records, reads, redaction, idempotent run ids, and several
processes writing at once."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from task_runner.emulator import Emulator
from task_runner.redact import REDACTOR
from task_runner.runner.result import RunResult, TaskResult
from task_runner.runner.service import run_workflow_file
from task_runner.state import History, resolve_state_dir
from task_runner.workflow.prepare import RunContext
from tests.runs_support import db_rows, images_task, workflow_data, write_workflow

T0 = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.timezone.utc)


def _context(run_id: str, workflow: str = "wf", end: dt.datetime = T0) -> RunContext:
    return RunContext(
        id=run_id,
        workflow=workflow,
        trigger="schedule",
        started_at=end,
        scheduled_at=end,
        window_start=end - dt.timedelta(hours=1),
        window_end=end,
    )


def _result(run_id: str, status: str = "succeeded", workflow: str = "wf") -> RunResult:
    task = TaskResult("list_images", status=status, http_status=200, pages=2, item_count=7)
    task.attempts = [{"page": 1}, {"page": 2}]
    task.output = "out/x.jsonl"
    return RunResult(
        run_id=run_id,
        workflow=workflow,
        status=status,
        started_at="2026-03-01T06:00:00Z",
        finished_at="2026-03-01T06:00:05Z",
        tasks={"list_images": task},
        trigger="schedule",
        window_start="2026-03-01T05:00:00Z",
        window_end="2026-03-01T06:00:00Z",
        error=None if status == "succeeded" else "task 'list_images' failed: boom",
    )


def test_a_run_is_recorded_running_then_final_with_its_task_results(tmp_path: Path) -> None:
    history = History.open(tmp_path)
    history.start_run(_context("r1"), inputs={"project_id": 777}, workflow_path="wf.yaml")
    assert [r["status"] for r in history.list_runs()] == ["running"]
    assert history.running() == ["r1"]
    assert history.get_run("r1") is None  # no result yet: not idempotent-complete
    history.finish_run(_result("r1"))
    run = history.run("r1")
    assert run is not None
    assert run["status"] == "succeeded"
    assert run["inputs"] == {"project_id": 777}
    assert (run["window_start"], run["window_end"]) == (
        "2026-03-01T05:00:00Z",
        "2026-03-01T06:00:00Z",
    )
    assert run["tasks"] == [
        {
            "task": "list_images",
            "status": "succeeded",
            "http_status": 200,
            "attempts": 2,
            "pages": 2,
            "items": 7,
            "elapsed": 0.0,
            "recording": None,
            "output": "out/x.jsonl",
            "error": None,
            # what the run vouched for, from its stored result
            "total_reported": None,
            "duplicates_dropped": 0,
            "already_delivered": 0,
            "complete": None,
            "warnings": [],
        }
    ]
    stored = history.get_run("r1")
    assert stored == _result("r1").to_json()
    assert RunResult.from_json(stored).to_json() == stored


def test_list_filters_by_workflow_newest_first_and_limits(tmp_path: Path) -> None:
    history = History.open(tmp_path)
    for i, name in enumerate(["a", "b", "a", "a"]):
        history.start_run(_context(f"r{i}", name))
    assert [r["id"] for r in history.list_runs(workflow="a")] == ["r3", "r2", "r0"]
    assert [r["id"] for r in history.list_runs(limit=2)] == ["r3", "r2"]
    assert History.open(tmp_path / "empty").list_runs() == []


def test_last_success_ignores_failed_and_running_runs(tmp_path: Path) -> None:
    history = History.open(tmp_path)
    history.start_run(_context("ok", end=T0))
    history.finish_run(_result("ok"))
    later = T0 + dt.timedelta(hours=1)
    history.start_run(_context("bad", end=later))
    history.finish_run(_result("bad", "failed"))
    history.start_run(_context("busy", end=later + dt.timedelta(hours=1)))
    last = history.last_success("wf")
    assert last is not None
    assert (last.run_id, last.window_end) == ("ok", T0)
    assert history.last_success("other") is None


def test_mark_interrupted_only_touches_running_runs(tmp_path: Path) -> None:
    history = History.open(tmp_path)
    history.start_run(_context("done"))
    history.finish_run(_result("done"))
    history.start_run(_context("busy"))
    assert history.mark_interrupted("busy", "stopped") is True
    assert history.mark_interrupted("done", "stopped") is False
    statuses = {r["id"]: r["status"] for r in history.list_runs()}
    assert statuses == {"done": "succeeded", "busy": "interrupted"}


def test_a_restarted_run_id_starts_over(tmp_path: Path) -> None:
    history = History.open(tmp_path)
    history.start_run(_context("again"))
    history.finish_run(_result("again", "failed"))
    history.start_run(_context("again"))
    run = history.run("again")
    assert run is not None
    assert (run["status"], run["error"], run["tasks"]) == ("running", None, [])


def test_secrets_never_reach_the_database(tmp_path: Path) -> None:
    secret = "s3cr3t-history-value"
    REDACTOR.add(secret)
    history = History.open(tmp_path)
    history.start_run(_context("r"), inputs={"token": secret})
    result = _result("r", "failed")
    result.error = f"failed with {secret}"
    result.tasks["list_images"].error = f"401 for {secret}"
    history.finish_run(result)
    raw = (tmp_path / "state.db").read_bytes()
    wal = tmp_path / "state.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert secret.encode() not in raw
    assert b"***" in raw


def test_state_dir_comes_from_the_option_then_the_environment_then_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TASK_RUNNER_STATE_DIR", raising=False)
    assert resolve_state_dir() == tmp_path / ".task-runner"
    monkeypatch.setenv("TASK_RUNNER_STATE_DIR", str(tmp_path / "env"))
    assert resolve_state_dir() == tmp_path / "env"
    assert resolve_state_dir(tmp_path / "opt") == tmp_path / "opt"


def _write_many(state_dir: str, prefix: str, count: int) -> None:
    history = History.open(state_dir)
    for i in range(count):
        run_id = f"{prefix}-{i:03d}"
        history.start_run(_context(run_id, prefix))
        history.finish_run(_result(run_id, workflow=prefix))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), name, 60)) for name in ("p", "q")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    rows = db_rows(tmp_path, "SELECT workflow, status, COUNT(*) AS n FROM runs GROUP BY 1, 2")
    assert sorted((r["workflow"], r["status"], r["n"]) for r in rows) == [
        ("p", "succeeded", 60),
        ("q", "succeeded", 60),
    ]
    assert db_rows(tmp_path, "SELECT COUNT(*) AS n FROM task_results")[0]["n"] == 120
    assert db_rows(tmp_path, "PRAGMA journal_mode")[0]["journal_mode"] == "wal"


@pytest.fixture
def slow_emulator() -> Iterator[Emulator]:
    with Emulator(images=20, latency=0.5) as em:
        yield em


def test_two_concurrent_run_commands_both_land_in_the_history(
    tmp_path: Path, slow_emulator: Emulator
) -> None:
    data = workflow_data("twice", {"list_images": images_task()})
    path = write_workflow(tmp_path / "twice.yaml", data)
    env = {**os.environ, **slow_emulator.env()}
    cmd = [sys.executable, "-m", "task_runner", "run", str(path), "--state-dir", str(tmp_path)]
    procs = [subprocess.Popen(cmd, env=env, cwd=tmp_path) for _ in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    rows = db_rows(tmp_path, "SELECT id, status, trigger FROM runs")
    assert len({r["id"] for r in rows}) == 2
    assert {(r["status"], r["trigger"]) for r in rows} == {("succeeded", "manual")}
    tasks = db_rows(tmp_path, "SELECT run_id, status, http_status FROM task_results")
    assert sorted(t["run_id"] for t in tasks) == sorted(r["id"] for r in rows)
    assert {(t["status"], t["http_status"]) for t in tasks} == {("succeeded", 200)}


def test_a_succeeded_run_id_is_not_run_again(tmp_path: Path, slow_emulator: Emulator) -> None:
    data = workflow_data("idem", {"list_images": images_task()})
    path = write_workflow(tmp_path / "idem.yaml", data)
    env = slow_emulator.env()
    os.environ.update(env)
    try:
        first = run_workflow_file(path, {}, state_dir=tmp_path, run_id="fixed-1", trigger="celery")
        requests_after_first = len(slow_emulator.request_log)
        again = run_workflow_file(path, {}, state_dir=tmp_path, run_id="fixed-1", trigger="celery")
    finally:
        for key in env:
            os.environ.pop(key, None)
    assert first.status == "succeeded"
    assert again.to_json() == first.to_json()
    assert len(slow_emulator.request_log) == requests_after_first  # nothing sent again
    assert [r["id"] for r in History.open(tmp_path).list_runs()] == ["fixed-1"]
