"""A workflow's ``schedule:`` as an APScheduler trigger (cron with a time zone, or every N s).

Cron expressions mean what they mean in crontab: APScheduler 3 numbers weekdays from
Monday = 0, so numeric weekdays are translated to names first (``0``/``7`` = sun)::

    build_trigger(ScheduleSpec(cron="0 6 * * 1-5", timezone="America/Los_Angeles"))
    build_trigger(ScheduleSpec(every=900, jitter=30))
"""

from __future__ import annotations

import re

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from task_runner.workflow.model import ScheduleSpec

__all__ = ["build_trigger", "crontab_weekdays", "describe"]

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


def build_trigger(spec: ScheduleSpec) -> BaseTrigger:
    """The trigger for ``spec`` (which the loader has already checked)."""
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
    return IntervalTrigger(seconds=spec.every, timezone=spec.timezone, jitter=jitter)


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
