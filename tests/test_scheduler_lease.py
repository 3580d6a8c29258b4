"""Processes sharing one state directory: two schedulers run each fire time once, two
``run`` commands never get overlapping windows, a killed run becomes ``abandoned`` and
its temp files are swept; ``schedule --emulator`` serves the same photos as ``run``."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from task_runner.emulator import Emulator
from task_runner.state.history import History
from tests.runs_support import WINDOW_FILTER, db_rows, images_task, workflow_data, write_workflow

WAIT = 60.0


def wait_for(predicate: Any, what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def windowed(name: str, **kwargs: Any) -> dict[str, Any]:
    task = images_task(**{"filters[updated_at]": WINDOW_FILTER})
    return workflow_data(name, {"list_images": task}, **kwargs)


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "task_runner", *args]


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=WAIT)
    return stderr


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(images=20) as em:
        yield em


# -- two schedulers ----------------------------------------------------------------------


def test_two_schedulers_on_one_state_directory_run_each_fire_time_once(
    tmp_path: Path, emulator: Emulator
) -> None:
    folder = tmp_path / "wf"
    write_workflow(folder / "tick.yaml", windowed("tick", schedule={"every": "1s"}))
    state = tmp_path / "state"
    env = {**os.environ, **emulator.env()}
    argv = command("schedule", str(folder), "--state-dir", str(state), "--poll-interval", "0.5")
    procs = [
        subprocess.Popen(argv, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        wait_for(
            lambda: len(db_rows(state, "SELECT id FROM runs WHERE status = 'succeeded'")) >= 6,
            "six scheduled runs",
        )
    finally:
        logs = [stop(p) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    runs = db_rows(
        state,
        "SELECT scheduled_at, window_start, window_end, pid FROM runs "
        "WHERE status != 'skipped' ORDER BY scheduled_at",
    )
    slots = [r["scheduled_at"] for r in runs]
    assert len(slots) == len(set(slots)), "a fire time ran twice"
    done = [r for r in runs if r["window_end"]]
    for before, after in itertools.pairwise(done):
        assert after["window_start"] >= before["window_end"], "overlapping windows"
    assert "standing by" in logs[0] + logs[1]


# -- two runs of one windowed workflow ---------------------------------------------------


def test_two_runs_started_together_get_windows_that_do_not_overlap(tmp_path: Path) -> None:
    with Emulator(images=20, latency=0.4) as slow:
        path = write_workflow(tmp_path / "pair.yaml", windowed("pair"))
        env = {**os.environ, **slow.env()}
        argv = command("run", str(path), "--state-dir", str(tmp_path / "state"))
        procs = [
            subprocess.Popen(argv, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        errs = [p.communicate(timeout=WAIT)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    runs = db_rows(
        tmp_path / "state",
        "SELECT window_start, window_end, status FROM runs ORDER BY window_start",
    )
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    first, second = runs
    assert second["window_start"] == first["window_end"]
    assert "waiting up to" in errs[0] + errs[1]  # the second said why it waited


def test_a_run_lease_is_exclusive_until_released(tmp_path: Path) -> None:
    from task_runner.state.leases import Leases

    leases = Leases(tmp_path / "state.db")
    one = leases.lease("run:w", ttl=30, note="run-1")
    two = leases.lease("run:w", ttl=30, note="run-2")
    assert one.try_acquire() is None
    holder = two.try_acquire()
    assert holder is not None and holder.note == "run-1" and holder.pid == os.getpid()
    assert "run run-1" in holder.describe()
    one.release()
    assert two.try_acquire() is None


def test_an_expired_lease_can_be_taken(tmp_path: Path) -> None:
    from task_runner.state.leases import Leases

    leases = Leases(tmp_path / "state.db")
    assert leases.lease("x", ttl=0.05).try_acquire() is None
    time.sleep(0.1)
    assert leases.lease("x", ttl=30).try_acquire() is None


def test_a_slot_is_claimed_once(tmp_path: Path) -> None:
    from task_runner.state.leases import Leases

    leases = Leases(tmp_path / "state.db")
    slot = dt.datetime(2026, 3, 9, 7, 0, 0, 250_000, tzinfo=dt.timezone.utc)
    assert leases.claim_slot("w", slot, "a") is None
    assert leases.claim_slot("w", slot, "a") is None  # the owner again: still ours
    assert leases.claim_slot("w", slot.replace(microsecond=0), "b") is not None
    assert leases.claim_slot("w", slot + dt.timedelta(seconds=1), "b") is None


# -- a killed run ------------------------------------------------------------------------


def test_a_killed_run_is_abandoned_at_the_next_start_and_its_temp_files_swept(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    with Emulator(images=20) as slow:
        slow.set_faults("slow:delay=20")
        path = write_workflow(tmp_path / "victim.yaml", windowed("victim"))
        env = {**os.environ, **slow.env()}
        argv = command("run", str(path), "--state-dir", str(state))
        victim = subprocess.Popen(argv, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: db_rows(state, "SELECT id FROM runs WHERE status = 'running'"), "a run")
        victim.kill()
        victim.communicate(timeout=WAIT)
        orphan = state / ".output.jsonl.k3x9q2.tmp"
        orphan.write_text("{}\n", encoding="utf-8")
        old = time.time() - 7200
        os.utime(orphan, (old, old))
        fresh = state / ".other.jsonl.a1b2c3.tmp"
        fresh.write_text("{}\n", encoding="utf-8")
        slow.set_faults("")
        again = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    rows = db_rows(state, "SELECT status, error FROM runs ORDER BY created_ts")
    assert [r["status"] for r in rows] == ["abandoned", "succeeded"]
    assert "killed or crashed" in rows[0]["error"]
    assert not orphan.exists() and fresh.exists()  # only the one nobody writes any more


def test_sweeping_leaves_other_files_alone(tmp_path: Path) -> None:
    from task_runner.state.recovery import sweep_temp_files

    keep = [tmp_path / "notes.tmp", tmp_path / "data.jsonl", tmp_path / ".hidden"]
    for path in keep:
        path.write_text("x", encoding="utf-8")
        os.utime(path, (0, 0))
    assert sweep_temp_files([tmp_path]) == []
    assert all(p.exists() for p in keep)


def test_a_running_run_of_a_live_process_is_not_abandoned(tmp_path: Path) -> None:
    from task_runner.state.recovery import mark_abandoned
    from task_runner.workflow.prepare import RunContext

    history = History.open(tmp_path)
    history.start_run(RunContext.now("alive"))  # recorded with this (live) process's pid
    assert mark_abandoned(history) == []
    assert history.running() != []


# -- schedule --emulator (fault 5) -------------------------------------------------------


def test_schedule_with_the_emulator_finds_the_items_run_finds(tmp_path: Path) -> None:
    folder = tmp_path / "wf"
    write_workflow(folder / "recent.yaml", windowed("recent", schedule={"every": "1s"}))
    state = tmp_path / "state"
    proc = subprocess.Popen(
        command("schedule", str(folder), "--state-dir", str(state), "--emulator"),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: db_rows(state, "SELECT id FROM runs WHERE status = 'succeeded'"),
            "a scheduled run",
        )
    finally:
        stderr = stop(proc)
    [first, *_] = db_rows(
        state, "SELECT item_count FROM runs WHERE status = 'succeeded' ORDER BY created_ts"
    )
    # The first window is the last day (initial lookback): photos dated up to now fill it.
    assert first["item_count"] > 0, stderr


def test_output_folders_of_a_workflow_are_swept_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from task_runner.state.recovery import output_roots, sweep_temp_files
    from task_runner.workflow import load_workflow

    monkeypatch.chdir(tmp_path)
    task = {**windowed("w")["tasks"]["list_images"], "output": {"jsonl": "out/{{ run.id }}.jsonl"}}
    data = workflow_data("w", {"list_images": task})
    workflow = load_workflow(write_workflow(tmp_path / "w.yaml", data))
    assert output_roots(workflow) == [Path("out")]
    orphan = tmp_path / "out" / "run-1" / ".images.jsonl.x1y2z3.tmp"
    orphan.parent.mkdir(parents=True)
    orphan.write_text("{}\n", encoding="utf-8")
    os.utime(orphan, (0, 0))
    assert sweep_temp_files(output_roots(workflow)) == [Path("out/run-1/.images.jsonl.x1y2z3.tmp")]
