"""Static checks of a ``schedule:``: the cron expression and the time zone.

The scheduler parses cron expressions with APScheduler's ``CronTrigger``; importing it
costs a fifth of a second (it pulls in asyncio), too much for every ``validate``. So the
fields and ranges are checked here, and ``task-runner schedule`` reports anything
APScheduler still refuses.
"""

from __future__ import annotations

import re

__all__ = ["cron_error", "timezone_error"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: (name, low, high, names) per field of a five-field cron expression
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_PART = re.compile(r"^(?:\*|(?P<a>\w+)(?:-(?P<b>\w+))?)(?:/(?P<step>\d+))?$")


def timezone_error(name: str) -> str | None:
    """A message when ``name`` is no IANA time zone, else None."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}; use an IANA name such as America/Los_Angeles or UTC"
    return None


def _value(token: str, low: int, names: tuple[str, ...]) -> int | None:
    if token.isdigit():
        return int(token)
    token = token.lower()[:3]
    if token in names:
        return names.index(token) + (low if names is _MONTHS else 0)
    return None


def _field_error(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    for part in text.split(","):
        m = _PART.match(part)
        if not m:
            return f"{name} field {text!r} is not a cron value (use *, N, N-M, */N or N,M)"
        if m.group("step") is not None and int(m.group("step")) == 0:
            return f"{name} field {text!r} has a step of 0"
        for token in (m.group("a"), m.group("b")):
            if token is None:
                continue
            value = _value(token, low, names)
            if value is None or not low <= value <= high:
                return f"{name} {token!r} is out of range {low}-{high}"
    return None


def cron_error(expression: str, timezone: str = "UTC") -> str | None:
    """A message when ``expression`` is not a five-field cron expression, else None."""
    fields = expression.split()
    if len(fields) != 5:
        return (
            f"{expression!r} is not a cron expression: it needs 5 fields "
            "(minute hour day-of-month month day-of-week)"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        problem = _field_error(text, name, low, high, names)
        if problem:
            return f"{expression!r} is not a valid cron expression: {problem}"
    return None
