"""An APScheduler executor that tells each job the time it was scheduled for.

APScheduler 3 calls a job without its fire time, but a run's window ends at its scheduled
time (not at whenever a busy pool got to it), so this executor passes it as the
``scheduled_at`` keyword. Everything else (instance counting, misfire checks, events) is
APScheduler's own ``ThreadPoolExecutor``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor

__all__ = ["ScheduledTimeExecutor"]


class _TimedJob:
    """What ``apscheduler.executors.base.run_job`` reads of a job, plus the fire time."""

    def __init__(self, job: Any, run_time: dt.datetime) -> None:
        self.id = job.id
        self._jobstore_alias = job._jobstore_alias
        self.misfire_grace_time = job.misfire_grace_time
        self.func = job.func
        self.args = job.args
        self.kwargs = {**job.kwargs, "scheduled_at": run_time}
        self._text = str(job)

    def __str__(self) -> str:
        return self._text


class ScheduledTimeExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """A thread pool executor whose jobs receive ``scheduled_at`` (the latest fire time)."""

    def _do_submit_job(self, job: Any, run_times: list[dt.datetime]) -> None:
        # With coalesce=True the scheduler already passes one time; keep only the latest
        # anyway, so that one submission is one run.
        super()._do_submit_job(_TimedJob(job, run_times[-1]), run_times[-1:])
