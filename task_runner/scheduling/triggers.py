"""A workflow's ``schedule:`` as an APScheduler trigger (cron with a time zone, or every N s).

Cron expressions mean what they mean in crontab(5): the fire times come from
:class:`~task_runner.scheduling.cron.CronExpression` (cronsim), not from APScheduler 3's
own ``CronTrigger``, which skips a day at the spring change in a zone whose midnight
moves and reads a restricted day of month and day of week as "both" instead of
"either". APScheduler only waits for the times and runs the jobs::

    build_trigger(ScheduleSpec(cron="0 6 * * 1-5", timezone="America/Los_Angeles"))
    build_trigger(ScheduleSpec(every=900, jitter=30))
    upcoming(ScheduleSpec(cron="0 6 1 * 1"), 5, now)  # the next five fire times
"""

from __future__ import annotations

import datetime as dt
import time
import zlib

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from task_runner.scheduling.cron import CronExpression
from task_runner.workflow.model import ScheduleSpec

__all__ = [
    "CrontabTrigger",
    "build_trigger",
    "describe",
    "nominal_slot",
    "phase_start",
    "previous_fire",
    "upcoming",
]

_TICK = dt.timedelta(microseconds=1)


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger whose fire times are ``cron``'s (crontab semantics).

    ``jitter`` (seconds) delays each fire time by a random 0..jitter, as APScheduler's own
    triggers do. Fire times are returned in UTC.
    """

    def __init__(self, cron: CronExpression, jitter: int | None = None) -> None:
        self.cron = cron
        self.jitter = jitter

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        # No previous time: the first fire time at or after now (cronsim's are strictly
        # after their start). A previous time: the one after it, even if already past
        # (APScheduler then decides by the misfire grace).
        after = previous_fire_time if previous_fire_time is not None else now - _TICK
        fire = self.cron.next_after(after)
        if fire is None:
            return None
        fire = fire.astimezone(dt.timezone.utc)
        return self._apply_jitter(fire, self.jitter, now)  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return f"cron[{self.cron.expression!r} {self.cron.timezone}]"


def phase_start(every: float, key: str, now: float | None = None) -> dt.datetime:
    """A start time that gives ``key`` its own, stable phase within the interval.

    Workflows with the same ``every:`` would otherwise all fire at the same instant (a
    burst that makes every run late); a phase from a hash of the key spreads them over
    the interval, and stays the same when the file is reloaded or the scheduler restarts.
    """
    now = time.time() if now is None else now
    offset = (zlib.crc32(key.encode()) % 10_000) / 10_000 * every
    start = (now // every) * every + offset
    if start <= now:
        start += every
    return dt.datetime.fromtimestamp(start, dt.timezone.utc)


def build_trigger(spec: ScheduleSpec, phase_key: str | None = None) -> BaseTrigger:
    """The trigger for ``spec`` (which the loader has already checked).

    ``every:`` triggers first fire within one interval, at the phase of ``phase_key``.
    """
    jitter = int(spec.jitter) if spec.jitter >= 1 else None
    if spec.cron:
        return CrontabTrigger(CronExpression.parse(spec.cron, spec.timezone), jitter)
    if spec.every is None:
        raise ValueError("a schedule needs cron or every")
    start = phase_start(spec.every, phase_key) if phase_key else None
    return IntervalTrigger(
        seconds=spec.every, start_date=start, timezone=spec.timezone, jitter=jitter
    )


def upcoming(
    spec: ScheduleSpec, count: int, now: dt.datetime, phase_key: str | None = None
) -> list[dt.datetime]:
    """The next ``count`` fire times after ``now`` (aware), in the schedule's time zone,
    without jitter: what ``validate`` and ``schedule --list`` show."""
    from zoneinfo import ZoneInfo

    if spec.cron:
        return CronExpression.parse(spec.cron, spec.timezone).upcoming(count, now)
    every = spec.every or 0.0
    first = (
        phase_start(every, phase_key, now.timestamp())
        if phase_key
        else now.astimezone(dt.timezone.utc) + dt.timedelta(seconds=every)
    )
    zone = ZoneInfo(spec.timezone)
    return [(first + dt.timedelta(seconds=every * n)).astimezone(zone) for n in range(count)]


def previous_fire(
    spec: ScheduleSpec, moment: dt.datetime, phase_key: str | None = None
) -> dt.datetime | None:
    """The last fire time (without jitter) at or before ``moment`` (aware), in UTC."""
    if spec.cron:
        fire = CronExpression.parse(spec.cron, spec.timezone).previous_before(moment)
        return fire.astimezone(dt.timezone.utc) if fire else None
    every = spec.every or 0.0
    offset = (zlib.crc32(phase_key.encode()) % 10_000) / 10_000 * every if phase_key else 0.0
    stamp = moment.timestamp()
    start = ((stamp - offset) // every) * every + offset
    return dt.datetime.fromtimestamp(start, dt.timezone.utc)


def nominal_slot(
    spec: ScheduleSpec, fired_at: dt.datetime, phase_key: str | None = None
) -> dt.datetime:
    """The fire time a (possibly jittered) firing at ``fired_at`` stands for: the same
    for every scheduler that fires it, so they can agree on who runs it."""
    if not spec.jitter:
        return fired_at.astimezone(dt.timezone.utc)
    return previous_fire(spec, fired_at, phase_key) or fired_at.astimezone(dt.timezone.utc)


def describe(spec: ScheduleSpec) -> str:
    """``cron '0 6 * * *' (America/Los_Angeles)`` or ``every 15m``, for log lines:
    durations as people write them (``every: 3600`` and ``every: 1h`` both say
    ``every 1h``; :func:`~task_runner.durations.format_duration`)."""
    from task_runner.durations import format_duration

    if spec.cron:
        text = f"cron {spec.cron!r} ({spec.timezone})"
    else:
        text = f"every {format_duration(spec.every or 0)}"
    if spec.jitter:
        text += f", jitter {format_duration(spec.jitter)}"
    return text
