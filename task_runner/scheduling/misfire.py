"""Fire times that cannot run as planned, and what the scheduler does about each.

- **Missed while no scheduler ran** (:func:`catch_up_time`): ``misfire: run_once`` runs
  once now for the latest missed time; ``skip`` (when later than ``misfire_grace``)
  logs it and waits for the next fire time.
- **Missed later than the grace while running** (:func:`log_missed`): logged; the next
  run's window covers it.
- **Claimed by another scheduler** on the same state directory
  (:func:`claimed_elsewhere`): this one stands by.
- **Due while a run is still active** here (:func:`skip_overlap`) or elsewhere
  (:func:`skip_busy`): skipped, logged and recorded as ``skipped`` in the history.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from task_runner.scheduling.runs import when

if TYPE_CHECKING:
    from task_runner.state.history import History
    from task_runner.state.leases import Leases
    from task_runner.workflow.model import ScheduleSpec

__all__ = ["catch_up_time", "claimed_elsewhere", "log_missed", "skip_busy", "skip_overlap"]

log = logging.getLogger("task_runner.scheduling")


def catch_up_time(
    history: History, name: str, spec: ScheduleSpec, now: dt.datetime
) -> dt.datetime | None:
    """The fire time of workflow ``name`` missed while no scheduler ran, to run once
    now; None when none was missed or ``misfire: skip`` lets it go (logged). Needs a
    fire time recorded before: a workflow new to this state directory starts with its
    next fire time."""
    from task_runner.scheduling.triggers import previous_fire

    last = history.last_scheduled(name)
    if last is None:
        return None
    missed = previous_fire(spec, now, name)
    if missed is None or missed <= last + dt.timedelta(seconds=1):
        return None
    late = (now - missed).total_seconds()
    if spec.misfire == "skip" and late > spec.misfire_grace:
        log.warning(
            "%s missed its run at %s while no scheduler ran (last run for %s); "
            "misfire: skip, so the next run comes at its time and its window covers "
            "the gap",
            name,
            when(missed),
            when(last),
        )
        return None
    log.warning(
        "%s missed its run at %s while no scheduler ran (last run for %s); "
        "misfire: %s, so it runs once now for that time",
        name,
        when(missed),
        when(last),
        spec.misfire,
    )
    return missed


def claimed_elsewhere(
    leases: Leases, owner: str, spec: ScheduleSpec, scheduled_at: dt.datetime, name: str
) -> bool:
    """Claim the fire time ``scheduled_at`` of workflow ``name`` for ``owner``
    (:meth:`~task_runner.state.leases.Leases.claim_slot`, by its nominal slot); True
    (logged: standing by) when another scheduler claimed it first."""
    from task_runner.scheduling.triggers import nominal_slot

    slot = nominal_slot(spec, scheduled_at, name)
    other = leases.claim_slot(name, slot, owner)
    if other is None:
        return False
    log.info(
        "%s run due at %s: standing by; %s (another scheduler on this state directory) runs it",
        name,
        when(slot),
        other,
    )
    return True


def skip_busy(
    history: History,
    path: Path,
    workflow: str,
    scheduled_at: dt.datetime,
    holder: str,
    run_id: str,
) -> None:
    """The run ``run_id`` due at ``scheduled_at`` is skipped: ``holder`` (another
    process) still runs the workflow. Logged and recorded under ``run_id``, the id its
    start was logged with."""
    reason = f"skipped: {holder} was still running this workflow"
    log.warning(
        "%s run %s due at %s %s",
        workflow,
        run_id,
        when(scheduled_at),
        reason,
        extra={"event": "run_skipped", "workflow": workflow, "run_id": run_id},
    )
    history.record_skipped(
        run_id,
        workflow,
        trigger="schedule",
        scheduled_at=scheduled_at,
        reason=reason,
        workflow_path=str(path),
    )


def skip_overlap(
    history: History,
    workflow: str,
    scheduled_at: dt.datetime | None,
    previous: str | None,
    *,
    workflow_path: str | None,
    record: bool,
) -> None:
    """The run due at ``scheduled_at`` is skipped: run ``previous`` of this scheduler
    still runs. Logged; recorded unless ``record`` is False (runs enqueued for workers
    are recorded by them)."""
    from task_runner.workflow.prepare import new_run_id

    what = f"run {previous}" if previous else "the previous run"
    reason = f"skipped: {what} of this workflow was still active"
    due = when(scheduled_at) if scheduled_at else "now"
    run_id = new_run_id() if record else None
    log.warning(
        "%s run %sdue at %s %s",
        workflow,
        f"{run_id} " if run_id else "",
        due,
        reason,
        extra={"event": "run_skipped", "workflow": workflow, "run_id": run_id},
    )
    if run_id is not None:
        history.record_skipped(
            run_id,
            workflow,
            trigger="schedule",
            scheduled_at=scheduled_at,
            reason=reason,
            workflow_path=workflow_path,
        )


def log_missed(name: str, scheduled_at: dt.datetime | None) -> None:
    """A fire time APScheduler found later than its misfire grace."""
    log.warning(
        "%s missed its run at %s (later than its misfire grace); the next run covers its window",
        name,
        when(scheduled_at),
    )
