"""The embedded scheduler: triggers, ``every:`` runs in a real subprocess stopped with
SIGTERM, no overlapping runs, reloading files, and workflows that cannot be scheduled."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from task_runner.emulator import Emulator
from task_runner.scheduling import SchedulerConfig, WorkflowScheduler, discover
from task_runner.scheduling.triggers import build_trigger
from task_runner.workflow.model import ScheduleSpec
from tests.runs_support import (
    WINDOW_FILTER,
    db_rows,
    images_task,
    restore_logging,
    workflow_data,
    write_workflow,
)

IMAGES = "/rest/v1.0/images"
WAIT = 30.0  # generous: only a broken scheduler takes this long

_logging = pytest.fixture(autouse=True)(restore_logging)


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def every_workflow(name: str, every: str = "1s", **kwargs: Any) -> dict[str, Any]:
    task = images_task(**{"filters[updated_at]": WINDOW_FILTER})
    return workflow_data(name, {"list_images": task}, schedule={"every": every}, **kwargs)


def statuses(state_dir: Path, workflow: str | None = None) -> list[str]:
    where = "WHERE workflow = ?" if workflow else ""
    rows = db_rows(
        state_dir,
        f"SELECT status FROM runs {where} ORDER BY created_ts",
        (workflow,) if workflow else (),
    )
    return [r["status"] for r in rows]


# -- triggers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "weekdays"),
    [
        ("*", {0, 1, 2, 3, 4, 5, 6}),
        ("1-5", {0, 1, 2, 3, 4}),
        ("0", {6}),
        ("7", {6}),
        ("0-2", {6, 0, 1}),
        ("sat,sun", {5, 6}),
    ],
    ids=["any", "mon-fri", "0-is-sunday", "7-is-sunday", "range-from-sunday", "names"],
)
def test_crontab_weekday_numbers_mean_what_they_mean_in_crontab(
    field: str, weekdays: set[int]
) -> None:
    trigger = build_trigger(ScheduleSpec(cron=f"0 6 * * {field}"))
    fire = trigger.get_next_fire_time(None, dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc))
    seen = set()
    for _ in range(14):
        seen.add(fire.weekday())
        fire = trigger.get_next_fire_time(fire, fire)
    assert seen == weekdays


def test_cron_fires_in_the_workflow_time_zone() -> None:
    trigger = build_trigger(ScheduleSpec(cron="0 6 * * 1-5", timezone="America/Los_Angeles"))
    friday_afternoon = dt.datetime(2026, 11, 27, 22, 0, tzinfo=dt.timezone.utc)
    fire = trigger.get_next_fire_time(None, friday_afternoon)
    assert fire.astimezone(dt.timezone.utc) == dt.datetime(
        2026, 11, 30, 14, 0, tzinfo=dt.timezone.utc
    )


def test_discover_takes_files_and_the_yaml_files_of_folders(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "notes.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    single = tmp_path / "notes.txt"
    assert [p.name for p in discover([str(tmp_path), str(single)])] == [
        "a.yml",
        "b.yaml",
        "notes.txt",
    ]


# -- in-process scheduler ---------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(images=20) as em:
        yield em


@pytest.fixture
def scheduler_factory(
    tmp_path: Path, emulator: Emulator
) -> Iterator[Callable[..., WorkflowScheduler]]:
    made: list[WorkflowScheduler] = []

    def make(paths: list[Path], **config: Any) -> WorkflowScheduler:
        scheduler = WorkflowScheduler(
            SchedulerConfig(
                paths=[str(p) for p in paths],
                state_dir=str(tmp_path / "state"),
                poll_interval=0.2,
                **config,
            ),
            emulator=emulator,
        )
        made.append(scheduler)
        scheduler.start()
        return scheduler

    yield make
    for scheduler in made:
        scheduler.shutdown(grace=5)


def test_a_slow_workflow_never_overlaps_itself(
    tmp_path: Path, emulator: Emulator, scheduler_factory: Callable[..., WorkflowScheduler]
) -> None:
    emulator.set_faults("slow:delay=1.8")
    path = write_workflow(tmp_path / "wf" / "slow.yaml", every_workflow("slow"))
    scheduler = scheduler_factory([path.parent])
    wait_for(lambda: statuses(tmp_path / "state").count("succeeded") >= 2, what="two runs")
    scheduler.shutdown(grace=10)
    arrivals = [r.time for r in emulator.request_log if r.path == IMAGES]
    # Each run holds its request for 1.8 s; overlapping runs would arrive closer together.
    assert len(arrivals) >= 2
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 1.5
    recorded = statuses(tmp_path / "state")
    assert "skipped" in recorded  # fire times that came while a run was active
    assert "running" not in recorded


def test_an_invalid_change_keeps_the_previous_version_running(
    tmp_path: Path,
    scheduler_factory: Callable[..., WorkflowScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_workflow(tmp_path / "wf" / "tick.yaml", every_workflow("tick"))
    scheduler_factory([path.parent])
    wait_for(lambda: "succeeded" in statuses(tmp_path / "state"), what="a first run")
    with caplog.at_level(logging.ERROR, logger="task_runner.scheduling"):
        path.write_text(path.read_text(encoding="utf-8") + "\nbogus_key: 1\n", encoding="utf-8")
        wait_for(lambda: "previous version keeps running" in caplog.text, what="the reload error")
    assert f"{path}:" in caplog.text  # the located error
    count = len(statuses(tmp_path / "state", "tick"))
    wait_for(lambda: len(statuses(tmp_path / "state", "tick")) > count, what="more runs")


def test_a_workflow_without_input_values_is_reported_and_the_others_still_run(
    tmp_path: Path,
    scheduler_factory: Callable[..., WorkflowScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "wf"
    write_workflow(folder / "needs.yaml", every_workflow("needs", defaults=False))
    write_workflow(folder / "fine.yaml", every_workflow("fine"))
    with caplog.at_level(logging.ERROR, logger="task_runner.scheduling"):
        scheduler_factory([folder])
    assert "needs.yaml" in caplog.text and "input 'company_id' is required" in caplog.text
    wait_for(lambda: "succeeded" in statuses(tmp_path / "state", "fine"), what="fine runs")
    assert statuses(tmp_path / "state", "needs") == []


def test_inputs_given_to_the_scheduler_fill_workflows_that_declare_them(
    tmp_path: Path, scheduler_factory: Callable[..., WorkflowScheduler]
) -> None:
    folder = tmp_path / "wf"
    write_workflow(folder / "needs.yaml", every_workflow("needs", defaults=False))
    scheduler_factory([folder], inputs={"company_id": 8089, "project_id": 777, "other": 1})
    wait_for(lambda: "succeeded" in statuses(tmp_path / "state", "needs"), what="a run")


def test_a_file_that_gains_a_schedule_is_picked_up(
    tmp_path: Path, scheduler_factory: Callable[..., WorkflowScheduler]
) -> None:
    data = every_workflow("later")
    unscheduled = {k: v for k, v in data.items() if k != "schedule"}
    path = write_workflow(tmp_path / "wf" / "later.yaml", unscheduled)
    scheduler_factory([path.parent])
    time.sleep(0.5)
    assert statuses(tmp_path / "state") == []
    write_workflow(path, data)
    wait_for(lambda: "succeeded" in statuses(tmp_path / "state"), what="a run after reload")


# -- the real command, stopped with SIGTERM ---------------------------------------------


def _start(folder: Path, state: Path, emulator: Emulator, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "task_runner",
            "schedule",
            str(folder),
            "--state-dir",
            str(state),
            *extra,
        ],
        env={**os.environ, **emulator.env()},
        cwd=folder.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_schedule_runs_every_workflows_and_stops_cleanly_on_sigterm(
    tmp_path: Path, emulator: Emulator
) -> None:
    folder = tmp_path / "wf"
    write_workflow(folder / "one.yaml", every_workflow("one"))
    write_workflow(folder / "two.yaml", every_workflow("two"))
    state = tmp_path / "state"
    proc = _start(folder, state, emulator)
    try:
        wait_for(
            lambda: (
                min(
                    statuses(state, "one").count("succeeded"),
                    statuses(state, "two").count("succeeded"),
                )
                >= 2
            ),
            what="two runs of each workflow",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, stderr
    runs = db_rows(state, "SELECT * FROM runs WHERE status != 'skipped' ORDER BY created_ts")
    assert runs and all(r["status"] == "succeeded" for r in runs), runs
    assert {r["trigger"] for r in runs} == {"schedule"}
    tasks = db_rows(state, "SELECT run_id FROM task_results")
    assert sorted(t["run_id"] for t in tasks) == sorted(r["id"] for r in runs)
    for name in ("one", "two"):
        mine = [r for r in runs if r["workflow"] == name]
        for before, after in itertools.pairwise(mine):
            assert after["window_start"] == before["window_end"]
    assert "one run" in stderr and "succeeded:" in stderr and "items in" in stderr


def test_sigterm_records_a_run_stuck_past_the_grace_period_as_interrupted(
    tmp_path: Path, emulator: Emulator
) -> None:
    emulator.set_faults("slow:delay=10")
    folder = tmp_path / "wf"
    write_workflow(folder / "stuck.yaml", every_workflow("stuck"))
    state = tmp_path / "state"
    proc = _start(folder, state, emulator, "--grace", "0.5")
    try:
        wait_for(lambda: "running" in statuses(state), what="a run in progress")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, stderr
    recorded = statuses(state)
    assert "interrupted" in recorded
    assert "running" not in recorded


def test_via_celery_enqueues_each_run_with_its_scheduled_time(
    tmp_path: Path, emulator: Emulator
) -> None:
    calls: list[tuple[str, dict[str, Any], dt.datetime, str]] = []

    def enqueue(path: str, inputs: dict[str, Any], scheduled_at: dt.datetime, name: str) -> str:
        calls.append((path, inputs, scheduled_at, name))
        return f"task-{len(calls)}"

    path = write_workflow(tmp_path / "wf" / "remote.yaml", every_workflow("remote"))
    scheduler = WorkflowScheduler(
        SchedulerConfig(paths=[str(path)], state_dir=str(tmp_path / "state")), enqueue=enqueue
    )
    scheduler.start()
    try:
        wait_for(lambda: len(calls) >= 2, what="two enqueued runs")
    finally:
        scheduler.shutdown(grace=5)
    first_path, inputs, scheduled_at, name = calls[0]
    assert (Path(first_path), inputs, name) == (
        path,
        {"company_id": 8089, "project_id": 777},
        "remote",
    )
    assert scheduled_at.utcoffset() == dt.timedelta(0)
    assert calls[1][2] - scheduled_at >= dt.timedelta(seconds=1)
    assert emulator.request_log == []  # nothing ran here


# -- operations: misfire policy, SIGHUP, JSON logs ----------------------------------------


def _midnight_workflow(tmp_path: Path, misfire: str) -> Path:
    data = every_workflow("nightly")
    data["schedule"] = {"cron": "0 0 * * *", "misfire": misfire, "misfire_grace": "1s"}
    return write_workflow(tmp_path / "wf" / "nightly.yaml", data)


def _record_old_run(state: Path, workflow: str, scheduled_at: dt.datetime) -> None:
    from task_runner.state.history import History

    History.open(state).record_skipped(
        "old-run", workflow, trigger="schedule", scheduled_at=scheduled_at, reason="test"
    )


def _last_midnight() -> dt.datetime:
    now = dt.datetime.now(dt.timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.mark.parametrize("misfire", ["run_once", "skip"])
def test_a_run_missed_while_the_scheduler_was_down_follows_the_misfire_policy(
    tmp_path: Path,
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    misfire: str,
) -> None:
    if dt.datetime.now(dt.timezone.utc) - _last_midnight() < dt.timedelta(seconds=5):
        pytest.skip("too close to midnight UTC for a stable missed time")
    path = _midnight_workflow(tmp_path, misfire)
    state = tmp_path / "state"
    _record_old_run(state, "nightly", _last_midnight() - dt.timedelta(days=3))
    scheduler = WorkflowScheduler(
        SchedulerConfig(paths=[str(path)], state_dir=str(state), poll_interval=0.2),
        emulator=emulator,
    )
    with caplog.at_level(logging.INFO, logger="task_runner.scheduling"):
        scheduler.start()
        try:
            if misfire == "run_once":
                wait_for(lambda: "succeeded" in statuses(state), what="the catch-up run")
            else:
                time.sleep(1.0)
        finally:
            scheduler.shutdown(grace=5)
    runs = db_rows(state, "SELECT scheduled_at, status FROM runs WHERE id != 'old-run'")
    expected = _last_midnight().isoformat().replace("+00:00", "Z")
    if misfire == "run_once":
        assert runs == [{"scheduled_at": expected, "status": "succeeded"}]
        assert "runs once now" in caplog.text
    else:
        assert runs == []
        assert "misfire: skip" in caplog.text


def test_a_workflow_new_to_the_state_directory_has_no_catch_up_run(
    tmp_path: Path, emulator: Emulator
) -> None:
    path = _midnight_workflow(tmp_path, "run_once")
    scheduler = WorkflowScheduler(
        SchedulerConfig(paths=[str(path)], state_dir=str(tmp_path / "state")), emulator=emulator
    )
    scheduler.start()
    try:
        time.sleep(0.5)
    finally:
        scheduler.shutdown(grace=5)
    assert statuses(tmp_path / "state") == []


def test_schedule_reloads_on_sighup_and_logs_each_run_as_json(
    tmp_path: Path, emulator: Emulator
) -> None:
    import json

    folder = tmp_path / "wf"
    write_workflow(folder / "tick.yaml", every_workflow("tick"))
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "task_runner",
            "--log-format",
            "json",
            "schedule",
            str(folder),
            "--state-dir",
            str(state),
        ],
        env={**os.environ, **emulator.env()},
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: "succeeded" in statuses(state), what="a run")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    finished = [r for r in records if r.get("event") == "run_finished"]
    assert finished and finished[0]["workflow"] == "tick"
    assert finished[0]["status"] == "succeeded" and isinstance(finished[0]["items"], int)
    assert finished[0]["next_run"] and finished[0]["run_id"]
    assert any(r.get("event") == "run_started" for r in records)
    messages = " ".join(r["message"] for r in records)
    assert "SIGHUP received" in messages and "schedule unchanged" in messages
    assert emulator.client_secret not in stderr  # canary: the log shipper gets no secret


# -- workflow names, run ids and how schedules are shown --------------------------------


def test_two_files_with_one_workflow_name_are_refused_at_start(
    tmp_path: Path, emulator: Emulator
) -> None:
    folder = tmp_path / "wf"
    write_workflow(folder / "a.yaml", every_workflow("twin"))
    write_workflow(folder / "b.yaml", every_workflow("twin", every="1h"))
    write_workflow(folder / "c.yaml", every_workflow("single"))
    state = str(tmp_path / "state")
    done = subprocess.run(  # a scheduler that starts anyway runs until the timeout: a failure
        [sys.executable, "-m", "task_runner", "schedule", str(folder), "--state-dir", state],
        env={**os.environ, **emulator.env()},
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    err = done.stderr
    assert done.returncode == 2, err
    # Each file is named with the line of its `name:` (the first line: yaml.safe_dump
    # keeps the order of workflow_data) and names the other file.
    assert f"{folder / 'a.yaml'}:1:1: name: workflow name 'twin'" in err
    assert f"also the name of {folder / 'b.yaml'}:1:1" in err
    assert f"{folder / 'b.yaml'}:1:1: name:" in err and f"of {folder / 'a.yaml'}:1:1" in err
    assert "single" not in err and "Traceback" not in err
    assert statuses(tmp_path / "state") == []  # nothing ran


def test_a_second_file_with_the_name_but_no_schedule_is_not_a_conflict(
    tmp_path: Path, scheduler_factory: Callable[..., WorkflowScheduler]
) -> None:
    folder = tmp_path / "wf"
    write_workflow(folder / "a.yaml", every_workflow("twin"))
    draft = {k: v for k, v in every_workflow("twin").items() if k != "schedule"}
    write_workflow(folder / "draft.yaml", draft)
    scheduler_factory([folder])
    wait_for(lambda: "succeeded" in statuses(tmp_path / "state", "twin"), what="a run")


def test_schedule_list_reports_two_files_with_one_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from task_runner.cli import main

    folder = tmp_path / "wf"
    write_workflow(folder / "a.yaml", every_workflow("twin"))
    write_workflow(folder / "b.yaml", every_workflow("twin"))
    assert main(["schedule", str(folder), "--list"]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'a.yaml'}:1:1: name:" in err and f"{folder / 'b.yaml'}:1:1: name:" in err


def test_a_reload_that_would_duplicate_a_name_keeps_the_previous_set(
    tmp_path: Path,
    scheduler_factory: Callable[..., WorkflowScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "wf"
    write_workflow(folder / "a.yaml", every_workflow("tick"))
    b = write_workflow(folder / "b.yaml", every_workflow("tock", every="1h"))
    scheduler = scheduler_factory([folder])
    key = str(b.resolve())
    with caplog.at_level(logging.ERROR, logger="task_runner.scheduling"):
        write_workflow(b, every_workflow("tick", every="2h"))
        wait_for(lambda: "were not reloaded" in caplog.text, what="the duplicate-name error")
        scheduler.reload(force=True)  # SIGHUP: refused again, and not logged again
        time.sleep(0.5)  # a few polls
    assert caplog.text.count("were not reloaded") == 1
    assert f"{folder / 'a.yaml'}:1:1: name:" in caplog.text and f"{b}:1:1: name:" in caplog.text
    entry = scheduler.entries[key]
    assert entry.workflow is not None and entry.workflow.name == "tock"  # the old set
    assert scheduler.scheduler.get_job(key).name == "tock"
    write_workflow(b, every_workflow("tock-renamed", every="2h"))
    wait_for(lambda: scheduler.scheduler.get_job(key).name == "tock-renamed", what="the fix")


def test_the_start_line_names_the_run_the_history_records(
    tmp_path: Path,
    scheduler_factory: Callable[..., WorkflowScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fire time found busy (a `run` of the workflow holds its lease) is recorded as
    skipped under the id its start was logged with."""
    from task_runner.state.leases import Leases

    state = tmp_path / "state"
    path = write_workflow(tmp_path / "wf" / "busy.yaml", every_workflow("busy"))
    scheduler = scheduler_factory([path.parent])  # creates the state database
    lease = Leases(state / "state.db").lease("run:busy", ttl=60, note="held-by-test")
    assert lease.try_acquire() is None
    try:
        with caplog.at_level(logging.INFO, logger="task_runner.scheduling"):
            rows = wait_for(
                lambda: db_rows(state, "SELECT id FROM runs WHERE status = 'skipped'"),
                what="a skipped run",
            )
            scheduler.shutdown(grace=5)
    finally:
        lease.release()
    started = [r.run_id for r in caplog.records if getattr(r, "event", "") == "run_started"]
    skipped = {r["id"] for r in db_rows(state, "SELECT id FROM runs WHERE status = 'skipped'")}
    assert rows and started
    assert set(started) <= skipped, (started, skipped)
    for run_id in started:
        assert f"busy run {run_id} due at" in caplog.text  # the skip line names it too


@pytest.mark.parametrize(
    ("every", "shown"),
    [(3600, "every 1h"), (900, "every 15m"), (90, "every 1m30s"), (1.5, "every 1.5s")],
    ids=["1h", "15m", "1m30s", "fraction"],
)
def test_every_is_shown_as_a_duration(every: float, shown: str) -> None:
    from task_runner.scheduling.triggers import describe

    assert describe(ScheduleSpec(every=every)) == shown
    assert describe(ScheduleSpec(every=every, jitter=30)) == f"{shown}, jitter 30s"


def test_fire_times_in_log_lines_say_their_offset_and_zone() -> None:
    from zoneinfo import ZoneInfo

    from task_runner.scheduling.runs import iso, when

    utc = dt.datetime(2026, 12, 1, 14, 0, 0, 123, tzinfo=dt.timezone.utc)
    local = utc.astimezone(ZoneInfo("America/Los_Angeles"))
    assert when(local) == "2026-12-01T06:00:00-08:00[America/Los_Angeles]"
    assert when(utc) == "2026-12-01T14:00:00Z"
    assert when(utc.astimezone(ZoneInfo("UTC"))) == "2026-12-01T14:00:00Z"
    assert iso(local) == "2026-12-01T06:00:00-08:00"  # the JSON field: plain ISO 8601
    assert dt.datetime.fromisoformat(iso(local) or "") == utc.replace(microsecond=0)


def test_the_scheduled_line_says_every_as_written_and_the_zone_of_the_next_run(
    tmp_path: Path,
    scheduler_factory: Callable[..., WorkflowScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = every_workflow("hourly", every="1h")
    data["schedule"]["timezone"] = "Europe/Berlin"
    path = write_workflow(tmp_path / "wf" / "hourly.yaml", data)
    with caplog.at_level(logging.INFO, logger="task_runner.scheduling"):
        scheduler_factory([path.parent])
    [line] = [r.getMessage() for r in caplog.records if "scheduled hourly" in r.getMessage()]
    assert "every 1h" in line and "3600" not in line
    assert line.endswith("[Europe/Berlin]")
    stamp = line.rsplit("next run at ", 1)[1].split("[")[0]
    assert dt.datetime.fromisoformat(stamp).utcoffset() is not None
