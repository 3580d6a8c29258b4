"""The embedded scheduler: run workflow files by their ``schedule:`` on APScheduler.

Policies (what ``task-runner schedule`` promises):

- **One active run per workflow file.** When a run is due while the previous one still
  runs, the new one is skipped, logged, and recorded as ``skipped`` (APScheduler's
  ``max_instances=1`` plus an explicit check, so a reloaded job cannot overlap either).
- **Misfires and downtime.** A run that is late by more than the workflow's
  ``misfire_grace`` (default 5 min) is dropped and logged; several missed fire times
  are coalesced into one run. The window arithmetic makes that run cover everything since
  the last success, so nothing is lost by coalescing.
- **Jitter.** ``schedule.jitter`` delays each run by a random 0..jitter seconds.
- **Reloading.** Workflow files are polled (mtime and size) every ``poll_interval``
  seconds; new files are scheduled, changed ones replace their job, deleted ones stop.
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
import threading
import time
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

        if self.catalogue is None:
            from task_runner.catalogue import Catalogue

            self.catalogue = Catalogue.load(self.config.definitions)
        self.reload()
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

    def reload(self) -> None:
        """Schedule new files, replace changed ones, drop deleted ones."""
        if self._stopping.is_set():
            return
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
            first = entry.signature is None
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

        self.scheduler.add_job(
            self._fire,
            build_trigger(spec, phase_key=workflow.name),
            args=[key],
            id=key,
            name=workflow.name,
            executor="runs",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(spec.misfire_grace)),
            replace_existing=True,
        )
        log.info("%s: scheduled %s, %s", self.entries[key].path, workflow.name, describe(spec))

    def _unschedule(self, key: str) -> None:
        from apscheduler.jobstores.base import JobLookupError

        try:
            self.scheduler.remove_job(key)
        except JobLookupError:
            pass

    # -- runs -----------------------------------------------------------------------------

    def _fire(self, key: str, scheduled_at: dt.datetime | None = None) -> None:
        from task_runner.workflow.prepare import new_run_id

        scheduled_at = (scheduled_at or dt.datetime.now(dt.timezone.utc)).astimezone(
            dt.timezone.utc
        )
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
        from task_runner.runner.service import run_workflow

        if self.enqueue is not None:
            task_id = self.enqueue(str(path), inputs, scheduled_at, workflow.name)
            log.info("%s enqueued for a worker: task %s", workflow.name, task_id)
            return
        options = ExecutionOptions(
            max_workers=self.config.max_workers, connection_overrides=overrides
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
            )
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
        self._log_result(result, time.monotonic() - active.started)

    def _log_result(self, result: RunResult, elapsed: float) -> None:
        line = (
            f"{result.workflow} run {result.run_id} {result.status}: "
            f"{result.item_count} items in {elapsed:.2f}s "
            f"(window {result.window_start} .. {result.window_end})"
        )
        if result.error:
            log.error("%s: %s", line, result.error.splitlines()[0])
        else:
            log.info("%s", line)

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
