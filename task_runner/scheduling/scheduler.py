"""The embedded scheduler: run workflow files by their ``schedule:`` on APScheduler.

Policies (what ``task-runner schedule`` promises):

- **One active run per workflow file.** When a run is due while the previous one still
  runs, the new one is skipped, logged, and recorded as ``skipped`` (APScheduler's
  ``max_instances=1`` plus an explicit check, so a reloaded job cannot overlap either).
- **Misfires and downtime.** A run up to ``misfire_grace`` late (default 5 min) runs as
  if on time. Fire times missed by more (the machine slept, the scheduler was down:
  found from the last fire time the history records) follow ``schedule.misfire``:
  ``run_once`` (default) runs once, at once, for the latest of them; ``skip`` logs them
  and waits for the next fire time. Several missed fire times are always coalesced into
  one run; the window arithmetic makes it cover everything since the last success.
- **Several schedulers, one state directory.** Each fire time is claimed in the state
  database (:meth:`~task_runner.state.leases.Leases.claim_slot`) before it runs; a
  scheduler that finds it claimed logs that it is standing by. A run of the workflow
  still active elsewhere (a ``run`` command) makes the scheduled run ``skipped``.
- **Secrets per run.** Each run has its own redaction scope (:meth:`~task_runner.redact.
  Redactor.scope`), so the scheduler does not collect every run's secrets; tokens live
  in the shared token cache until they expire.
- **Start-up.** Runs left ``running`` by a killed process become ``abandoned``, and
  orphaned temp files in the state directory are removed.
- **Jitter.** ``schedule.jitter`` delays each run by a random 0..jitter seconds.
- **Reloading.** Workflow files are polled (mtime and size) every ``poll_interval``
  seconds, and all are read again on :meth:`WorkflowScheduler.reload` ``(force=True)``
  (SIGHUP); new files are scheduled, changed ones replace their job, deleted ones stop.
  A file that no longer loads is logged with its located errors and its previous version
  keeps running.
- **Stopping.** :meth:`WorkflowScheduler.shutdown` stops scheduling, waits up to
  ``grace`` seconds for running runs, then cancels them and records those still running
  as ``interrupted``.

Example::

    scheduler = WorkflowScheduler(SchedulerConfig(paths=["examples/workflows"]))
    scheduler.start()
    ...
    scheduler.shutdown()
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import InputError, InputErrors, TaskRunnerError, UsageError
from task_runner.redact import REDACTOR

if TYPE_CHECKING:
    from apscheduler.events import JobExecutionEvent

    from task_runner.catalogue import Catalogue
    from task_runner.emulator import Emulator
    from task_runner.model import ConnectionConfig
    from task_runner.runner.result import RunResult
    from task_runner.state.history import History
    from task_runner.workflow.model import ScheduleSpec, Workflow

__all__ = ["Enqueue", "SchedulerConfig", "WorkflowScheduler", "discover"]

log = logging.getLogger("task_runner.scheduling")

#: ``enqueue(path, inputs, scheduled_at, workflow_name) -> task id`` (``--via celery``).
Enqueue = Callable[[str, dict[str, Any], dt.datetime, str], str]

WORKFLOW_SUFFIXES = (".yaml", ".yml")


@dataclass
class SchedulerConfig:
    paths: list[str]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    state_dir: str | None = None
    definitions: list[str] = field(default_factory=list)
    grace: float = 30.0
    poll_interval: float = 2.0
    max_concurrent_runs: int = 20
    max_workers: int = 4  # tasks at once within one run


@dataclass
class _Entry:
    """One workflow file: what was loaded from it last and whether it is scheduled."""

    path: Path
    signature: tuple[int, int] | None = None
    workflow: Workflow | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, ConnectionConfig] = field(default_factory=dict)
    schedule: ScheduleSpec | None = None


@dataclass
class _Active:
    run_id: str
    workflow: str
    cancel: threading.Event
    started: float


def discover(paths: list[str]) -> list[Path]:
    """Workflow files: the files given, and ``*.yaml``/``*.yml`` directly in the folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in WORKFLOW_SUFFIXES))
        elif path.exists():
            found.append(path)
    return found


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


class WorkflowScheduler:
    """Runs workflow files by their schedules until :meth:`shutdown`."""

    def __init__(
        self,
        config: SchedulerConfig,
        *,
        history: History | None = None,
        catalogue: Catalogue | None = None,
        emulator: Emulator | None = None,
        enqueue: Enqueue | None = None,
    ) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        from task_runner.scheduling.executor import ScheduledTimeExecutor
        from task_runner.state.history import History

        for raw in config.paths:
            if not Path(raw).exists():
                raise UsageError(f"{raw}: no such file or folder")
        self.config = config
        self.history = history or History.open(config.state_dir)
        self.catalogue = catalogue
        self.emulator = emulator
        self.enqueue = enqueue
        self.entries: dict[str, _Entry] = {}
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        from task_runner.state.leases import Leases

        self.leases = Leases(self.history.path)
        #: Who claims fire times: this scheduler, distinct from any other process's.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(1),
                "runs": ScheduledTimeExecutor(max(1, config.max_concurrent_runs)),
            },
            timezone="UTC",
        )

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        from task_runner.state.recovery import recover

        recover(self.history)
        if self.catalogue is None:
            from task_runner.catalogue import Catalogue

            self.catalogue = Catalogue.load(self.config.definitions)
        self.reload()
        from task_runner.state.recovery import output_roots, sweep_temp_files

        roots = {r for e in self.entries.values() if e.workflow for r in output_roots(e.workflow)}
        sweep_temp_files(sorted(roots))
        self.scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.scheduler.add_job(
            self.reload,
            "interval",
            seconds=self.config.poll_interval,
            id="__reload__",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()
        scheduled = [e for e in self.entries.values() if e.schedule is not None]
        if not scheduled:
            log.warning("no workflow with a schedule yet; watching the files for changes")

    def shutdown(self, grace: float | None = None) -> int:
        """Stop scheduling, let runs finish for ``grace`` s; return how many were interrupted."""
        grace = self.config.grace if grace is None else grace
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._wait_idle(grace):
            return 0
        with self._lock:
            leftover = list(self._active.values())
        log.warning("%d run(s) still active after %gs: cancelling them", len(leftover), grace)
        for active in leftover:
            active.cancel.set()
        # Cancelled runs stop at the next page and record themselves; give them a moment.
        self._wait_idle(min(2.0, max(grace, 0.1)))
        with self._lock:
            leftover = list(self._active.values())
        for active in leftover:
            reason = (
                f"the scheduler stopped; the run was still active after the {grace:g}s grace period"
            )
            if self.history.mark_interrupted(active.run_id, reason):
                log.warning("%s run %s: interrupted", active.workflow, active.run_id)
        return len(leftover)

    def _wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def active_runs(self) -> list[str]:
        with self._lock:
            return [a.run_id for a in self._active.values()]

    # -- workflow files -------------------------------------------------------------------

    def reload(self, force: bool = False) -> None:
        """Schedule new files, replace changed ones, drop deleted ones; ``force`` reads
        every file again, changed or not (SIGHUP)."""
        if self._stopping.is_set():
            return
        if force:
            for entry in self.entries.values():
                entry.signature = None if entry.workflow is None else (-1, -1)
        files = {str(p.resolve()): p for p in discover(self.config.paths)}
        for key in [k for k in self.entries if k not in files]:
            entry = self.entries.pop(key)
            self._unschedule(key)
            log.info("%s: removed; no longer scheduled", entry.path)
        for key, path in files.items():
            signature = _signature(path)
            entry = self.entries.setdefault(key, _Entry(path))
            if signature is None or signature == entry.signature:
                continue
            first = entry.signature is None or entry.workflow is None
            entry.signature = signature
            self._load(key, entry, first=first)

    def _load(self, key: str, entry: _Entry, *, first: bool) -> None:
        from task_runner.workflow import load_workflow
        from task_runner.workflow.prepare import resolve_inputs

        try:
            workflow = load_workflow(entry.path, catalogue=self.catalogue)
            spec = workflow.schedule if workflow.schedule and workflow.schedule.enabled else None
            given = {k: v for k, v in self.config.inputs.items() if k in workflow.inputs}
            # Inputs matter only to workflows that will run here.
            inputs = resolve_inputs(workflow, given) if spec is not None else {}
        except (InputError, InputErrors) as exc:
            keeps = (
                "" if first or entry.workflow is None else "; the previous version keeps running"
            )
            log.error(
                "%s: cannot schedule this workflow%s:\n%s",
                entry.path,
                keeps,
                REDACTOR.redact(exc.format()),
            )
            return
        overrides = self._overrides(workflow)
        with self._lock:  # a run starting now sees the old version or the new, not a mix
            entry.workflow, entry.inputs, entry.overrides = workflow, inputs, overrides
        if spec is None:
            if entry.schedule is not None:
                self._unschedule(key)
            entry.schedule = None
            log.info("%s: %s has no enabled schedule; not scheduled", entry.path, workflow.name)
            return
        if spec != entry.schedule:
            self._schedule(key, workflow, spec)
            if entry.schedule is None:
                self._catch_up(key, workflow, spec)
            entry.schedule = spec
        elif not first:
            log.info("%s: reloaded %s (schedule unchanged)", entry.path, workflow.name)

    def _overrides(self, workflow: Workflow) -> dict[str, ConnectionConfig]:
        if self.emulator is None:
            return {}
        from task_runner.runner.emulated import emulated_connections

        return emulated_connections(workflow, self.emulator)

    def _schedule(self, key: str, workflow: Workflow, spec: ScheduleSpec) -> None:
        from task_runner.scheduling.triggers import build_trigger, describe

        # run_once: a late fire time runs however late (once: coalesced); skip: only
        # within the grace.
        grace = None if spec.misfire == "run_once" else max(1, int(spec.misfire_grace))
        job = self.scheduler.add_job(
            self._fire,
            build_trigger(spec, phase_key=workflow.name),
            args=[key],
            id=key,
            name=workflow.name,
            executor="runs",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=grace,
            replace_existing=True,
        )
        log.info(
            "%s: scheduled %s, %s, misfire %s; next run at %s",
            self.entries[key].path,
            workflow.name,
            describe(spec),
            spec.misfire,
            _when(self._next_time(job, spec, workflow.name)),
        )

    def _next_time(self, job: Any, spec: ScheduleSpec, name: str) -> dt.datetime | None:
        """The job's next fire time in the schedule's zone (before the scheduler starts,
        from the trigger itself)."""
        from zoneinfo import ZoneInfo

        fire = getattr(job, "next_run_time", None)
        if fire is None and job is not None:
            now = dt.datetime.now(dt.timezone.utc)
            fire = job.trigger.get_next_fire_time(None, now)
        return fire.astimezone(ZoneInfo(spec.timezone)) if fire is not None else None

    def _catch_up(self, key: str, workflow: Workflow, spec: ScheduleSpec) -> None:
        """Fire times missed while no scheduler ran: one run now (``misfire: run_once``)
        or a log line (``skip``). Needs a fire time recorded before: a workflow new to
        this state directory starts with its next fire time."""
        from task_runner.scheduling.triggers import previous_fire

        last = self.history.last_scheduled(workflow.name)
        if last is None:
            return
        now = dt.datetime.now(dt.timezone.utc)
        missed = previous_fire(spec, now, workflow.name)
        if missed is None or missed <= last + dt.timedelta(seconds=1):
            return
        late = (now - missed).total_seconds()
        if spec.misfire == "skip" and late > spec.misfire_grace:
            log.warning(
                "%s missed its run at %s while no scheduler ran (last run for %s); "
                "misfire: skip, so the next run comes at its time and its window covers "
                "the gap",
                workflow.name,
                _when(missed),
                _when(last),
            )
            return
        log.warning(
            "%s missed its run at %s while no scheduler ran (last run for %s); "
            "misfire: %s, so it runs once now for that time",
            workflow.name,
            _when(missed),
            _when(last),
            spec.misfire,
        )
        self.scheduler.add_job(
            self._fire,
            "date",
            run_date=now,
            args=[key],
            kwargs={"catch_up_for": missed},
            id=f"{key}#catch-up",
            name=f"{workflow.name} (catch-up)",
            executor="runs",
            misfire_grace_time=None,
            replace_existing=True,
        )

    def _unschedule(self, key: str) -> None:
        from apscheduler.jobstores.base import JobLookupError

        try:
            self.scheduler.remove_job(key)
        except JobLookupError:
            pass

    # -- runs -----------------------------------------------------------------------------

    def _fire(
        self,
        key: str,
        scheduled_at: dt.datetime | None = None,
        catch_up_for: dt.datetime | None = None,
    ) -> None:
        """Run the workflow of ``key`` for its fire time ``scheduled_at`` (or the missed
        ``catch_up_for``), in a redaction scope of its own."""
        with REDACTOR.scope(f"scheduled run of {key}"):
            self._fire_scoped(key, catch_up_for or scheduled_at)

    def _fire_scoped(self, key: str, scheduled_at: dt.datetime | None) -> None:
        from task_runner.scheduling.triggers import nominal_slot
        from task_runner.workflow.prepare import new_run_id

        scheduled_at = (scheduled_at or dt.datetime.now(dt.timezone.utc)).astimezone(
            dt.timezone.utc
        )
        entry = self.entries.get(key)
        if entry is not None and entry.workflow is not None and entry.schedule is not None:
            slot = nominal_slot(entry.schedule, scheduled_at, entry.workflow.name)
            other = self.leases.claim_slot(entry.workflow.name, slot, self.owner)
            if other is not None:
                log.info(
                    "%s run due at %s: standing by; %s (another scheduler on this state "
                    "directory) runs it",
                    entry.workflow.name,
                    _when(slot),
                    other,
                )
                return
        with self._lock:
            entry = self.entries.get(key)
            if entry is None or entry.workflow is None or self._stopping.is_set():
                return
            workflow, inputs, overrides = entry.workflow, dict(entry.inputs), entry.overrides
            if key in self._active:
                previous = self._active[key].run_id
                active = None
            else:
                active = _Active(new_run_id(), workflow.name, threading.Event(), time.monotonic())
                self._active[key] = active
        if active is None:
            self._skip(key, workflow.name, scheduled_at, previous)
            return
        try:
            self._run(entry.path, workflow, inputs, overrides, scheduled_at, active)
        finally:
            with self._idle:
                self._active.pop(key, None)
                self._idle.notify_all()

    def _run(
        self,
        path: Path,
        workflow: Workflow,
        inputs: dict[str, Any],
        overrides: dict[str, ConnectionConfig],
        scheduled_at: dt.datetime,
        active: _Active,
    ) -> None:
        from task_runner.runner.executor import ExecutionOptions
        from task_runner.runner.service import WorkflowBusyError, run_workflow

        if self.enqueue is not None:
            task_id = self.enqueue(str(path), inputs, scheduled_at, workflow.name)
            log.info("%s enqueued for a worker: task %s", workflow.name, task_id)
            return
        options = ExecutionOptions(
            max_workers=self.config.max_workers, connection_overrides=overrides
        )
        log.info(
            "%s run %s started for %s",
            workflow.name,
            active.run_id,
            _when(scheduled_at),
            extra={
                "event": "run_started",
                "workflow": workflow.name,
                "run_id": active.run_id,
                "scheduled_at": _when(scheduled_at),
            },
        )
        try:
            result = run_workflow(
                workflow,
                inputs,
                options=options,
                history=self.history,
                trigger="schedule",
                scheduled_at=scheduled_at,
                run_id=active.run_id,
                cancel=active.cancel,
                lease_wait=0.0,  # a run active elsewhere: skip this fire time, do not queue
            )
        except WorkflowBusyError as exc:
            self._skip_busy(path, workflow.name, scheduled_at, exc.holder)
            return
        except TaskRunnerError as exc:
            elapsed = time.monotonic() - active.started
            first = exc.format().splitlines()[0]
            log.error(
                "%s run %s failed: 0 items in %.2fs: %s",
                workflow.name,
                active.run_id,
                elapsed,
                first,
            )
            return
        self._log_result(result, time.monotonic() - active.started, str(path.resolve()))

    def _log_result(self, result: RunResult, elapsed: float, key: str | None = None) -> None:
        line = (
            f"{result.workflow} run {result.run_id} {result.status}: "
            f"{result.item_count} items in {elapsed:.2f}s "
            f"(window {result.window_start} .. {result.window_end}); "
            f"next run at {_when(self.next_run(key)) if key else 'unknown'}"
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
            "next_run": _when(self.next_run(key)) if key else None,
        }
        if result.error:
            log.error("%s: %s", line, result.error.splitlines()[0], extra=extra)
        else:
            log.info("%s", line, extra=extra)

    def next_run(self, key: str) -> dt.datetime | None:
        """The next fire time of the workflow file ``key`` in its zone, if scheduled."""
        entry = self.entries.get(key)
        if entry is None or entry.schedule is None or entry.workflow is None:
            return None
        try:
            job = self.scheduler.get_job(key)
        except Exception:  # the scheduler is shutting down
            return None
        return self._next_time(job, entry.schedule, entry.workflow.name) if job else None

    def _skip_busy(self, path: Path, workflow: str, scheduled_at: dt.datetime, holder: str) -> None:
        from task_runner.workflow.prepare import new_run_id

        reason = f"skipped: {holder} was still running this workflow"
        log.warning("%s run due at %s %s", workflow, _when(scheduled_at), reason)
        self.history.record_skipped(
            new_run_id(),
            workflow,
            trigger="schedule",
            scheduled_at=scheduled_at,
            reason=reason,
            workflow_path=str(path),
        )

    def _skip(
        self, key: str, workflow: str, scheduled_at: dt.datetime | None, previous: str | None
    ) -> None:
        from task_runner.workflow.prepare import new_run_id

        what = f"run {previous}" if previous else "the previous run"
        reason = f"skipped: {what} of this workflow was still active"
        when = scheduled_at.replace(microsecond=0).isoformat() if scheduled_at else "now"
        log.warning("%s run due at %s %s", workflow, when, reason)
        if self.enqueue is None:
            self.history.record_skipped(
                new_run_id(),
                workflow,
                trigger="schedule",
                scheduled_at=scheduled_at,
                reason=reason,
                workflow_path=str(self.entries[key].path) if key in self.entries else None,
            )

    def _on_max_instances(self, event: JobExecutionEvent) -> None:
        times = getattr(event, "scheduled_run_times", None) or [None]
        entry = self.entries.get(event.job_id)
        name = entry.workflow.name if entry and entry.workflow else event.job_id
        with self._lock:
            active = self._active.get(event.job_id)
        self._skip(event.job_id, name, times[-1], active.run_id if active else None)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        entry = self.entries.get(event.job_id)
        name = entry.workflow.name if entry and entry.workflow else event.job_id
        log.warning(
            "%s missed its run at %s (later than its misfire grace); the next run covers its window",
            name,
            event.scheduled_run_time,
        )


def _when(moment: dt.datetime | None) -> str:
    """A fire time for log lines: ISO 8601 to the second, with its offset."""
    if moment is None:
        return "none"
    return moment.replace(microsecond=0).isoformat()
