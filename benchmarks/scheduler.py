"""scheduler: lateness p99 of 1,000 ``every:`` workflows on the embedded scheduler.

1,000 workflow files, each ``every: 10s`` (``misfire_grace: 60s`` so a late run still
fires and is counted, never silently dropped), each one GET to a local server, run by
the real ``WorkflowScheduler`` with run history in SQLite. Lateness is the time from a
run's scheduled time to the moment the scheduler starts it (``_fire`` entered), for
every run in a 25 s window. The goal is absolute (p99 <= 1 s); the "baseline" column
holds the median lateness of the same runs, for scale.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Result, items_workflow, skipped
from benchmarks._server import ItemServer

NAME, UNIT, GOAL, LIMIT = "scheduler", "s", "<= 1 s", 1.0


def _available() -> bool:
    try:
        return importlib.util.find_spec("task_runner.scheduling") is not None
    except ImportError:
        return False


def _write_workflows(directory: Path, count: int, every: int, base_url: str) -> None:
    for number in range(count):
        items_workflow(
            directory / f"wf{number:04d}.yaml",
            f"bench-every-{number:04d}",
            base_url,
            per_page=1,
            schedule=f"{{every: {every}s, misfire_grace: 60s}}",
        )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(quick: bool) -> Result:
    if not _available():
        return skipped(NAME, UNIT, GOAL, "scheduler not available (no task_runner.scheduling)")
    from task_runner.scheduling.scheduler import SchedulerConfig, WorkflowScheduler

    count, every, duration = (20, 1, 3.0) if quick else (1_000, 10, 25.0)
    lateness: list[float] = []
    lock = threading.Lock()

    class Measured(WorkflowScheduler):
        def _fire(self, key: str, scheduled_at: dt.datetime | None = None) -> None:
            if scheduled_at is not None:
                late = (dt.datetime.now(dt.timezone.utc) - scheduled_at).total_seconds()
                with lock:
                    lateness.append(late)
            super()._fire(key, scheduled_at)

    with ItemServer(total=1) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "workflows"
        _write_workflows(folder, count, every, server.url)
        config: Any = SchedulerConfig(
            paths=[str(folder)], state_dir=str(Path(tmp) / "state"), poll_interval=60.0
        )
        scheduler = Measured(config)
        scheduler.start()
        try:
            time.sleep(duration)
        finally:
            scheduler.shutdown(grace=10.0)
    if not lateness:
        raise RuntimeError("the scheduler started no run")
    p99 = _percentile(lateness, 0.99)
    p50 = statistics.median(lateness)
    return Result(
        NAME,
        p99,
        UNIT,
        p50,
        GOAL,
        None if quick else p99 <= LIMIT,
        measured=max(lateness),
        detail=f"{count} workflows every {every}s for {duration:.0f}s: {len(lateness)} runs, "
        f"lateness p50 {p50:.3f}s, p99 {p99:.3f}s, max {max(lateness):.3f}s",
    )
