"""Static checks of a ``schedule:``: the cron expression and the time zone.

One parser for both ``validate`` and the scheduler:
:class:`task_runner.scheduling.cron.CronExpression` (cronsim, crontab(5) semantics), so
an expression that validates is one the scheduler runs, with the same meaning. cronsim
imports in a few milliseconds (APScheduler, which pulls in asyncio, is not imported).
"""

from __future__ import annotations

__all__ = ["MISFIRE_POLICIES", "cron_error", "timezone_error"]


def timezone_error(name: str) -> str | None:
    """A message when ``name`` is no IANA time zone, else None."""
    from task_runner.scheduling.cron import CronExpressionError, zone

    try:
        zone(name)
    except CronExpressionError as exc:
        return str(exc)
    return None


def cron_error(expression: str, timezone: str = "UTC") -> str | None:
    """A message when ``expression`` is not a crontab(5) expression, else None.

    An unknown ``timezone`` is :func:`timezone_error`'s to report, so the expression is
    then checked in UTC.
    """
    from task_runner.scheduling.cron import CronExpression, CronExpressionError

    if timezone_error(timezone):
        timezone = "UTC"
    try:
        CronExpression.parse(expression, timezone)
    except CronExpressionError as exc:
        return str(exc)
    return None


#: ``schedule.misfire``: what to do with fire times missed while the scheduler was down.
MISFIRE_POLICIES = ("run_once", "skip")
