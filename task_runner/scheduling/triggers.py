"""A workflow's ``schedule:`` as an APScheduler trigger (cron with a time zone, or every N s).

Cron expressions mean what they mean in crontab: APScheduler 3 numbers weekdays from
Monday = 0, so numeric weekdays are translated to names first (``0``/``7`` = sun)::

    build_trigger(ScheduleSpec(cron="0 6 * * 1-5", timezone="America/Los_Angeles"))
    build_trigger(ScheduleSpec(every=900, jitter=30))
"""

from __future__ import annotations

import datetime as dt
import re
import time
import zlib

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from task_runner.workflow.model import ScheduleSpec

__all__ = ["build_trigger", "crontab_weekdays", "describe", "phase_start"]

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def crontab_weekdays(field: str) -> str:
    """Translate a crontab day-of-week field to APScheduler's weekday names."""
    parts = []
    for part in field.split(","):
        base, slash, step = part.partition("/")
        start, dash, end = base.partition("-")
        if dash and start == "0" and end.isdigit() and int(end) >= 1:
            # "0-5" is sun..fri in crontab; APScheduler ranges cannot wrap past sunday.
            parts.append("sun")
            start = "1"
        names = re.sub(r"\d+", lambda m: _day(m.group()), f"{start}{dash}{end}")
        parts.append(names + (slash + step if slash else ""))
    return ",".join(parts)


def _day(number: str) -> str:
    value = int(number)
    return _DAY_NAMES[value] if 0 <= value <= 7 else number  # out of range: let cron complain


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
        minute, hour, day, month, weekday = spec.cron.split()
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(weekday),
            timezone=spec.timezone,
            jitter=jitter,
        )
    if spec.every is None:
        raise ValueError("a schedule needs cron or every")
    start = phase_start(spec.every, phase_key) if phase_key else None
    return IntervalTrigger(
        seconds=spec.every, start_date=start, timezone=spec.timezone, jitter=jitter
    )


def describe(spec: ScheduleSpec) -> str:
    """``cron '0 6 * * *' (America/Los_Angeles)`` or ``every 15m``, for log lines."""
    if spec.cron:
        text = f"cron {spec.cron!r} ({spec.timezone})"
    else:
        every = spec.every or 0
        text = f"every {every:g}s"
    if spec.jitter:
        text += f", jitter {spec.jitter:g}s"
    return text
