"""Run a workflow once and record it: load, plan the window, execute, keep the history.

What ``run``, the scheduler and Celery workers all call, the same way::

    result = run_workflow_file("wf.yaml", {"project_id": 777}, trigger="schedule")
    result.status, result.window_start, result.window_end

A run is recorded as ``running`` before anything is sent and gets its final status in one
transaction at the end; a process killed in between leaves ``running`` behind, which the
next ``run`` or ``schedule`` marks ``abandoned`` (:mod:`task_runner.state.recovery`). A
run id that the history already records as succeeded is not run again (a redelivered
Celery message): its recorded result is returned.

**One run of a workflow at a time per state directory.** A run holds the lease
``run:<workflow>`` (:mod:`task_runner.state.leases`) from before its window is planned
until its end is recorded, so two ``run`` commands started together, or a ``run`` and a
scheduled run, never get overlapping windows: the second waits (``lease_wait`` seconds)
and then plans its window from the first one's success, or gives up with
:class:`WorkflowBusyError`. Celery runs use their Redis lease instead.

**Shared clients.** Runs with a history use :func:`~task_runner.state.shared.
shared_client_factory` unless the options bring a client factory: one token cache and
one rate budget per connection identity for the whole machine.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import RunError, TaskRunnerError
from task_runner.runner.executor import ExecutionOptions, execute
from task_runner.runner.result import RunResult
from task_runner.runner.windows import plan_run, utcnow

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.state.history import History
    from task_runner.workflow.model import Workflow

__all__ = [
    "RUN_LEASE_TTL",
    "WorkflowBusyError",
    "recorded_success",
    "run_workflow",
    "run_workflow_file",
]

log = logging.getLogger("task_runner.runner")

TRIGGERS = ("manual", "schedule", "celery")
#: Seconds a dead run's lease outlives it (renewed every third of this while it runs).
RUN_LEASE_TTL = 30.0
#: How long ``run`` waits for another run of the same workflow before giving up.
DEFAULT_LEASE_WAIT = 900.0


class WorkflowBusyError(RunError):
    """Another run of the workflow holds its lease (``holder`` says which process)."""

    def __init__(self, message: str, *, holder: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.holder = holder


def run_workflow_file(
    path: str | Path,
    inputs: Mapping[str, Any],
    *,
    definitions: Sequence[str] = (),
    options: ExecutionOptions | None = None,
    emulator: bool = False,
    state_dir: str | os.PathLike[str] | None = None,
    trigger: str = "manual",
    scheduled_at: dt.datetime | None = None,
    run_id: str | None = None,
    cancel: threading.Event | None = None,
    record: bool = True,
    catalogue: Catalogue | None = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> RunResult:
    """Load ``path`` and run it once (see :func:`run_workflow`).

    ``record=False`` keeps the run out of the history (its window is then the initial
    lookback); ``state_dir`` picks the history (default: ``$TASK_RUNNER_STATE_DIR`` or
    ``.task-runner`` under the cwd).
    """
    from task_runner.runner.emulated import maybe_emulator
    from task_runner.state.history import History
    from task_runner.state.recovery import output_roots, recover
    from task_runner.workflow import load_workflow

    history = History.open(state_dir) if record else None
    done = recorded_success(history, run_id)
    if done is not None:
        return done
    workflow = load_workflow(path, definitions=definitions, catalogue=catalogue)
    if history is not None:
        recover(history, output_roots(workflow))
    options = options or ExecutionOptions()
    with maybe_emulator(emulator, workflow) as overrides:
        if overrides:
            options = replace(
                options, connection_overrides={**overrides, **options.connection_overrides}
            )
        return run_workflow(
            workflow,
            inputs,
            options=options,
            history=history,
            trigger=trigger,
            scheduled_at=scheduled_at,
            run_id=run_id,
            cancel=cancel,
            now=now,
        )


def run_workflow(
    workflow: Workflow,
    inputs: Mapping[str, Any],
    *,
    options: ExecutionOptions | None = None,
    history: History | None = None,
    trigger: str = "manual",
    scheduled_at: dt.datetime | None = None,
    run_id: str | None = None,
    cancel: threading.Event | None = None,
    now: Callable[[], dt.datetime] = utcnow,
    lease_wait: float = DEFAULT_LEASE_WAIT,
) -> RunResult:
    """Run a loaded workflow once, its window and record kept in ``history``.

    With a ``history`` (and not for Celery), the run first takes the workflow's lease,
    waiting up to ``lease_wait`` seconds for a run already holding it; raises
    :class:`WorkflowBusyError` (exit code 1, nothing sent) when it stays taken.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}, not {trigger!r}")
    done = recorded_success(history, run_id)
    if done is not None:
        return done
    options = options or ExecutionOptions()
    if cancel is not None:
        options = replace(options, cancel=cancel)
    if history is None or trigger == "celery":
        return _run_once(workflow, inputs, options, history, trigger, scheduled_at, run_id, now)
    from task_runner.state.leases import Leases
    from task_runner.state.shared import shared_client_factory
    from task_runner.workflow.prepare import new_run_id

    if options.client_factory is None:
        options = _shared_clients(options, shared_client_factory(history.path.parent))
    if options.checkpoint_dir is None:  # for_each items done survive a crash of this run id
        options = replace(options, checkpoint_dir=str(history.path.parent / "fanout"))
    run_id = run_id or new_run_id()
    lease = Leases(history.path).lease(f"run:{workflow.name}", ttl=RUN_LEASE_TTL, note=run_id)

    def waiting(holder: Any) -> None:
        log.warning(
            "%s: waiting up to %gs for %s to finish, so that the windows do not overlap",
            workflow.name,
            lease_wait,
            holder.describe(),
        )

    holder = lease.acquire(wait=lease_wait, on_wait=waiting)
    if holder is not None:
        raise WorkflowBusyError(
            f"workflow {workflow.name!r} is already running ({holder.describe()}); "
            "this run did not start, so that their windows do not overlap",
            holder=holder.describe(),
            hint="wait for that run to end (`task-runner runs list`), then run again",
        )
    with lease.renewing():
        return _run_once(workflow, inputs, options, history, trigger, scheduled_at, run_id, now)


def _run_once(
    workflow: Workflow,
    inputs: Mapping[str, Any],
    options: ExecutionOptions,
    history: History | None,
    trigger: str,
    scheduled_at: dt.datetime | None,
    run_id: str | None,
    now: Callable[[], dt.datetime],
) -> RunResult:
    """Plan the window, record the start, execute, record the end."""
    run = plan_run(
        workflow.name,
        workflow.window,
        history,
        trigger=trigger,
        scheduled_at=scheduled_at,
        run_id=run_id,
        now=now,
    )
    if history is not None:
        history.start_run(run, inputs=_typed(workflow, inputs), workflow_path=str(workflow.path))
        options = _with_delivered(options, workflow, history, run)
    try:
        result = execute(workflow, inputs, run=run, options=options)
    except TaskRunnerError as exc:
        _close(history, run.id, "failed", exc.format())
        raise
    except KeyboardInterrupt:
        _close(history, run.id, "interrupted", "interrupted")
        raise
    except BaseException as exc:
        _close(history, run.id, "failed", f"internal error: {type(exc).__name__}: {exc}")
        raise
    if history is not None:
        end = run.window_end
        forget = end - dt.timedelta(seconds=workflow.window.overlap) if end else None
        history.finish_run(result, window_end=end, forget_before=forget)
    return result


def _typed(workflow: Workflow, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The inputs as the run reads them (``--input`` text by each input's type), for the
    history; as given when they are wrong (the run then fails with the input errors)."""
    from task_runner.workflow.prepare import resolve_inputs

    try:
        return resolve_inputs(workflow, inputs)
    except TaskRunnerError:
        return inputs


def _with_delivered(
    options: ExecutionOptions, workflow: Workflow, history: History, run: Any
) -> ExecutionOptions:
    """Options whose windowed tasks know what earlier, overlapping windows delivered."""
    windowed = [name for name, task in workflow.tasks.items() if task.windowed]
    if not windowed or run.window_start is None:
        return options
    return replace(
        options, delivered_before=history.delivered(workflow.name, windowed, run.window_start)
    )


def recorded_success(history: History | None, run_id: str | None) -> RunResult | None:
    """The recorded result when ``run_id`` already succeeded (so it is not run twice)."""
    if history is None or not run_id:
        return None
    stored = history.get_run(run_id)
    if stored is None or stored.get("status") != "succeeded":
        return None
    log.info("run %s already succeeded; returning its recorded result", run_id)
    return RunResult.from_json(stored)


def _close(history: History | None, run_id: str, status: str, error: str) -> None:
    if history is None:
        return
    try:
        history.fail_run(run_id, status, error)
    except TaskRunnerError as exc:  # keep the original error, which matters more
        log.error("could not record the end of run %s: %s", run_id, exc.format())


def _shared_clients(options: ExecutionOptions, factory: Callable[..., Any]) -> ExecutionOptions:
    """``options`` whose clients come from ``factory`` (the process's shared token cache
    and rate budget) with a clock that a cancel interrupts: Ctrl-C or SIGTERM during a
    30 s ``Retry-After`` ends the run at once instead of waiting it out and retrying."""
    from task_runner.http.clock import CancellableClock, SystemClock

    cancel = options.cancel or threading.Event()
    clock = CancellableClock(SystemClock(), cancel)

    def build(connection: Any) -> Any:
        return factory(connection, clock=clock)

    return replace(options, cancel=cancel, client_factory=build)
