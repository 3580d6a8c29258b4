"""One job: say what a workflow's ``schedule:`` means, as the next fire times in its zone.

What ``validate`` and ``schedule --list`` print, so a person can check a cron expression
against the calendar before trusting it::

    entry = describe_schedule(workflow, now)
    print("\\n".join(format_entry(entry)))
    # photos.yaml: procore-daily-photos: cron '0 6 1 * 1' (America/Los_Angeles), misfire run_once
    #   At 06:00 on the first day of month and on Monday (either day matches, as in crontab)
    #   next: 2026-12-01 06:00 PST (Tue), 2026-12-07 06:00 PST (Mon), ...
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from task_runner.workflow.model import Workflow

__all__ = ["NEXT_COUNT", "describe_schedule", "format_entry"]

#: How many fire times are shown.
NEXT_COUNT = 5


def describe_schedule(
    workflow: Workflow, now: dt.datetime, count: int = NEXT_COUNT
) -> dict[str, Any] | None:
    """``{path, workflow, cron|every, timezone, misfire, explain, next: [ISO 8601 ...]}``
    for a workflow with an enabled schedule (``next`` in the schedule's zone, with its UTC
    offset), else ``None``. ``now`` must be aware."""
    from task_runner.scheduling.cron import CronExpression
    from task_runner.scheduling.triggers import describe, upcoming

    spec = workflow.schedule
    if spec is None or not spec.enabled:
        return None
    times = upcoming(spec, count, now, phase_key=workflow.name)
    if spec.cron:
        explain = CronExpression.parse(spec.cron, spec.timezone).explain()
    else:
        from task_runner.durations import format_duration

        explain = (
            f"every {format_duration(spec.every or 0)}, at a phase of its own within the interval"
        )
    return {
        "path": str(workflow.path),
        "workflow": workflow.name,
        "schedule": describe(spec),
        "cron": spec.cron,
        "every": spec.every,
        "timezone": spec.timezone,
        "jitter": spec.jitter,
        "misfire": spec.misfire,
        "misfire_grace": spec.misfire_grace,
        "explain": explain,
        "next": [t.isoformat() for t in times],
    }


def format_entry(entry: dict[str, Any]) -> list[str]:
    """The text lines of one :func:`describe_schedule` entry."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(entry["timezone"])
    times = [dt.datetime.fromisoformat(t).astimezone(zone) for t in entry["next"]]
    shown = ", ".join(f"{t:%Y-%m-%d %H:%M} {t.tzname() or ''} ({t:%a})".strip() for t in times)
    return [
        f"{entry['path']}: {entry['workflow']}: {entry['schedule']}, misfire {entry['misfire']}",
        f"  {entry['explain']}",
        f"  next {len(times)} in {entry['timezone']}: {shown}",
    ]
