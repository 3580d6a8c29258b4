"""One scheduled run in this process: its bookkeeping (:class:`ActiveRun`), the run
itself (:func:`run_here`) and its log lines (start, failure, result with the next fire
time); :func:`when` formats fire times for every scheduler log line."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from task_runner.errors import TaskRunnerError
    from task_runner.model import ConnectionConfig
    from task_runner.runner.result import RunResult
    from task_runner.state.history import History
    from task_runner.workflow.model import Workflow

__all__ = ["ActiveRun", "iso", "log_failed", "log_result", "run_here", "when"]

log = logging.getLogger("task_runner.scheduling")


@dataclass
class ActiveRun:
    """A run this scheduler started: its id, workflow, cancel event, start (monotonic s)."""

    run_id: str
    workflow: str
    cancel: threading.Event
    started: float


def iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601 to the second, with its UTC offset (``2026-12-01T06:00:00-08:00``), for
    the fields of JSON log lines; None for None."""
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat()


def when(moment: dt.datetime | None) -> str:
    """A fire time for log messages: ISO 8601 with its UTC offset, and the time zone's
    name in brackets when it has one other than UTC, as RFC 9557 (section 4) writes it:
    ``2026-12-01T06:00:00-08:00[America/Los_Angeles]``; UTC times end in ``Z``, as the
    log lines' own time stamps are UTC. ``"none"`` for None."""
    if moment is None:
        return "none"
    text = moment.replace(microsecond=0).isoformat()
    zone = getattr(moment.tzinfo, "key", None)
    if moment.utcoffset() == dt.timedelta(0) and zone in (None, "UTC", "Etc/UTC"):
        return text.replace("+00:00", "Z")
    return f"{text}[{zone}]" if zone else text


def run_here(
    workflow: Workflow,
    inputs: dict[str, Any],
    overrides: dict[str, ConnectionConfig],
    scheduled_at: dt.datetime,
    active: ActiveRun,
    *,
    history: History,
    max_workers: int,
) -> RunResult:
    """Run ``workflow`` for its fire time ``scheduled_at`` as ``active`` (logged).

    Raises :class:`~task_runner.runner.service.WorkflowBusyError` when a run of it is
    active elsewhere (not queued: this fire time is skipped), or a TaskRunnerError.
    """
    from task_runner.runner.options import ExecutionOptions
    from task_runner.runner.service import run_workflow

    options = ExecutionOptions(max_workers=max_workers, connection_overrides=overrides)
    log.info(
        "%s run %s started for %s",
        workflow.name,
        active.run_id,
        when(scheduled_at),
        extra={
            "event": "run_started",
            "workflow": workflow.name,
            "run_id": active.run_id,
            "scheduled_at": iso(scheduled_at),
        },
    )
    return run_workflow(
        workflow,
        inputs,
        options=options,
        history=history,
        trigger="schedule",
        scheduled_at=scheduled_at,
        run_id=active.run_id,
        cancel=active.cancel,
        lease_wait=0.0,  # a run active elsewhere: skip this fire time, do not queue
    )


def log_failed(workflow: str, active: ActiveRun, exc: TaskRunnerError, elapsed: float) -> None:
    """A run that failed before it had a result: its error's first line."""
    first = exc.format().splitlines()[0]
    log.error("%s run %s failed: 0 items in %.2fs: %s", workflow, active.run_id, elapsed, first)


def log_result(result: RunResult, elapsed: float, next_run: dt.datetime | None) -> None:
    """The run's result line (``elapsed`` in s), with structured fields for JSON logs."""
    line = (
        f"{result.workflow} run {result.run_id} {result.status}: "
        f"{result.item_count} items in {elapsed:.2f}s "
        f"(window {result.window_start} .. {result.window_end}); "
        f"next run at {when(next_run)}"
    )
    extra = {
        "event": "run_finished",
        "workflow": result.workflow,
        "run_id": result.run_id,
        "status": result.status,
        "items": result.item_count,
        "elapsed": round(elapsed, 3),
        "window_start": result.window_start,
        "window_end": result.window_end,
        "next_run": iso(next_run),
    }
    if result.error:
        log.error("%s: %s", line, result.error.splitlines()[0], extra=extra)
    else:
        log.info("%s", line, extra=extra)
