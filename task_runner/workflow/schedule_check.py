"""Static checks of a ``schedule:``: the cron expression and the time zone."""

from __future__ import annotations

__all__ = ["cron_error", "timezone_error"]


def timezone_error(name: str) -> str | None:
    """A message when ``name`` is no IANA time zone, else None."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}; use an IANA name such as America/Los_Angeles or UTC"
    return None


def cron_error(expression: str, timezone: str = "UTC") -> str | None:
    """A message when ``expression`` is not a five-field cron expression, else None."""
    from apscheduler.triggers.cron import CronTrigger

    if len(expression.split()) != 5:
        return f"{expression!r} is not a cron expression: it needs 5 fields (minute hour day month weekday)"
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        return f"{expression!r} is not a valid cron expression: {exc}"
    return None
