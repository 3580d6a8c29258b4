"""Incremental run windows: which interval of time one run of a workflow covers.

A run's window ends ``lag`` before its scheduled time (or before now, for a manual run)
and starts where the previous *successful* run's window ended (less ``overlap``), or
``initial_lookback`` before the end when there was no success yet.

Why ``lag``: a window that ends at the current second is still open; items updated in
that second may not be listed yet, and the listing keeps changing while it is paged, so
items shift between pages (duplicates within a run, items no run ever fetches). A window
that ends a minute in the past (the default) is closed: what it covers no longer grows.
With ``overlap``, consecutive windows share their edge (for APIs that list an update
late); a windowed task drops the items an earlier window already delivered at the same
version (:class:`~task_runner.http.tally.Tally`), so each lands exactly once. A failed run does not move the start, so
the next run covers its window again: a pull with ``filters[updated_at]`` never leaves a
gap. With ``max_span``, a window after a long outage is cut to ``max_span`` *at its end*
(it ends early rather than starting late), so the following runs catch up piece by
piece and still leave no gap.

Example::

    window = compute_window(workflow.window, end=now, previous_end=last.window_end)
    window.start, window.end
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from task_runner.workflow.model import WindowSpec
from task_runner.workflow.prepare import RunContext, new_run_id

if TYPE_CHECKING:
    from task_runner.state.history import History

__all__ = ["Window", "compute_window", "plan_run", "utcnow"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    previous_success_at: dt.datetime | None = None


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def compute_window(
    spec: WindowSpec,
    *,
    end: dt.datetime,
    previous_end: dt.datetime | None = None,
    previous_success_at: dt.datetime | None = None,
) -> Window:
    """The window of a run ending at ``end`` after a success whose window ended at ``previous_end``."""
    end = _utc(end)
    if previous_end is None:
        start = end - dt.timedelta(seconds=spec.initial_lookback)
    else:
        start = _utc(previous_end) - dt.timedelta(seconds=spec.overlap)
    # A previous window reaching past this run's end (a clock change, a backfill) gives an
    # empty window rather than a reversed one.
    start = min(start, end)
    if spec.max_span is not None and (end - start).total_seconds() > spec.max_span:
        end = start + dt.timedelta(seconds=spec.max_span)
    return Window(start, end, previous_success_at)


def plan_run(
    workflow_name: str,
    spec: WindowSpec,
    history: History | None,
    *,
    trigger: str = "manual",
    scheduled_at: dt.datetime | None = None,
    run_id: str | None = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> RunContext:
    """The ``run.*`` context of a run starting now, its window taken from ``history``."""
    started = _utc(now()).replace(microsecond=0)
    # Whole seconds: APIs take second-precision filters, and the next window starts
    # exactly where this one ends, so flooring loses nothing.
    moment = _utc(scheduled_at).replace(microsecond=0) if scheduled_at is not None else started
    end = moment - dt.timedelta(seconds=spec.lag)
    last = history.last_success(workflow_name) if history is not None else None
    window = compute_window(
        spec,
        end=end,
        previous_end=last.window_end if last else None,
        previous_success_at=last.started_at if last else None,
    )
    return RunContext(
        id=run_id or new_run_id(),
        workflow=workflow_name,
        trigger=trigger,
        started_at=started,
        scheduled_at=moment,
        window_start=window.start,
        window_end=window.end,
        previous_success_at=window.previous_success_at,
    )
