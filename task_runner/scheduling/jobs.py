"""The APScheduler jobs of workflow files: a schedule's recurring job, the one-off
catch-up job for a missed fire time, their removal, and a job's next fire time.

Every job runs on the ``runs`` executor (:class:`~task_runner.scheduling.executor.
ScheduledTimeExecutor`, which passes the fire time) and is keyed by the resolved path
of its workflow file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from task_runner.workflow.model import ScheduleSpec

__all__ = ["add_catch_up_job", "add_schedule_job", "next_fire_time", "remove_job"]


def add_schedule_job(
    scheduler: BaseScheduler, fire: Callable[..., None], key: str, name: str, spec: ScheduleSpec
) -> Any:
    """(Re)place the recurring job of the file ``key`` (workflow ``name``): at most one
    instance, missed fire times coalesced; returns the APScheduler job."""
    from task_runner.scheduling.triggers import build_trigger

    # run_once: a late fire time runs however late (once: coalesced); skip: only
    # within the grace.
    grace = None if spec.misfire == "run_once" else max(1, int(spec.misfire_grace))
    return scheduler.add_job(
        fire,
        build_trigger(spec, phase_key=name),
        args=[key],
        id=key,
        name=name,
        executor="runs",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=grace,
        replace_existing=True,
    )


def add_catch_up_job(
    scheduler: BaseScheduler,
    fire: Callable[..., None],
    key: str,
    name: str,
    missed: dt.datetime,
    now: dt.datetime,
) -> None:
    """A one-off job at ``now`` that runs the file ``key`` for its ``missed`` fire time."""
    scheduler.add_job(
        fire,
        "date",
        run_date=now,
        args=[key],
        kwargs={"catch_up_for": missed},
        id=f"{key}#catch-up",
        name=f"{name} (catch-up)",
        executor="runs",
        misfire_grace_time=None,
        replace_existing=True,
    )


def remove_job(scheduler: BaseScheduler, key: str) -> None:
    """Remove the job ``key``; nothing when there is none."""
    from apscheduler.jobstores.base import JobLookupError

    try:
        scheduler.remove_job(key)
    except JobLookupError:
        pass


def next_fire_time(job: Any, spec: ScheduleSpec) -> dt.datetime | None:
    """The job's next fire time in the schedule's zone (before the scheduler starts,
    from the trigger itself); None for no job or no next time."""
    from zoneinfo import ZoneInfo

    fire = getattr(job, "next_run_time", None)
    if fire is None and job is not None:
        now = dt.datetime.now(dt.timezone.utc)
        fire = job.trigger.get_next_fire_time(None, now)
    return fire.astimezone(ZoneInfo(spec.timezone)) if fire is not None else None
