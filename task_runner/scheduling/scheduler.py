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
- **One file per workflow name.** Runs, leases and windows go by name, so two scheduled
  files with one ``name`` are refused: at start (``InputErrors``, exit 2, each file at
  its ``name:`` line); on a reload the error is logged once and the previous set keeps
  running.
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

from task_runner.errors import InputErrors, TaskRunnerError, UsageError
from task_runner.redact import REDACTOR
from task_runner.scheduling import jobs, misfire
from task_runner.scheduling.files import (
    Loaded,
    WatchedFile,
    discover,
    duplicate_names,
    load_for_schedule,
    signature,
)
from task_runner.scheduling.runs import ActiveRun, log_failed, log_result, run_here, when

if TYPE_CHECKING:
    from apscheduler.events import JobExecutionEvent

    from task_runner.catalogue import Catalogue
    from task_runner.emulator import Emulator
    from task_runner.model import ConnectionConfig
    from task_runner.state.history import History
    from task_runner.workflow.model import ScheduleSpec, Workflow

__all__ = ["Enqueue", "SchedulerConfig", "WorkflowScheduler", "discover"]

log = logging.getLogger("task_runner.scheduling")

#: ``enqueue(path, inputs, scheduled_at, workflow_name) -> task id`` (``--via celery``).
Enqueue = Callable[[str, dict[str, Any], dt.datetime, str], str]


@dataclass
class SchedulerConfig:
    """What ``task-runner schedule`` runs and how: workflow files and folders, inputs,
    the state directory, catalogue definitions, the shutdown ``grace`` and file
    ``poll_interval`` (seconds), runs at once, and tasks at once within one run."""

    paths: list[str]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    state_dir: str | None = None
    definitions: list[str] = field(default_factory=list)
    grace: float = 30.0
    poll_interval: float = 2.0
    max_concurrent_runs: int = 20
    max_workers: int = 4  # tasks at once within one run


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
        self.entries: dict[str, WatchedFile] = {}
        self._active: dict[str, ActiveRun] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._started = False
        self._conflict: str | None = None  # the duplicate-name error logged last
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
        self._started = True
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
        every file again, changed or not (SIGHUP).

        Two scheduled files with the same workflow ``name`` (their runs, leases and
        history would be one workflow's) are refused: before the first start by raising
        :class:`~task_runner.errors.InputErrors` (exit 2), later by logging the error
        and keeping the set scheduled before (:func:`~task_runner.scheduling.files.
        duplicate_names`)."""
        if self._stopping.is_set():
            return
        if force:
            for entry in self.entries.values():
                entry.signature = None if entry.workflow is None else (-1, -1)
        files = {str(p.resolve()): p for p in discover(self.config.paths)}
        loads: dict[str, tuple[tuple[int, int], Loaded | None]] = {}
        for key, path in files.items():
            stamp = signature(path)
            watched = self.entries.get(key)
            known = watched.signature if watched is not None else None
            if stamp is None or stamp == known:
                continue
            keeps = watched is not None and watched.workflow is not None and known is not None
            loads[key] = (
                stamp,
                load_for_schedule(path, self.catalogue, self.config.inputs, keeps_previous=keeps),
            )
        if self._refuse_duplicates(files, loads):
            for key, (stamp, loaded) in loads.items():  # already logged: not again each poll
                if loaded is None and key in self.entries:
                    self.entries[key].signature = stamp
            return
        for key in [k for k in self.entries if k not in files]:
            entry = self.entries.pop(key)
            self._unschedule(key)
            log.info("%s: removed; no longer scheduled", entry.path)
        for key, (stamp, loaded) in loads.items():
            entry = self.entries.setdefault(key, WatchedFile(files[key]))
            first = entry.signature is None or entry.workflow is None
            entry.signature = stamp
            if loaded is not None:
                self._apply(key, entry, loaded, first=first)

    def _refuse_duplicates(
        self, files: dict[str, Path], loads: dict[str, tuple[tuple[int, int], Loaded | None]]
    ) -> bool:
        """True when the files would schedule one workflow name twice: raised before the
        first start, logged (once per distinct conflict) after it."""
        scheduled: list[tuple[Path, Workflow]] = []
        for key, path in files.items():
            loaded = loads[key][1] if key in loads else None
            entry = self.entries.get(key)
            if loaded is not None:  # the new version, else what is scheduled now
                if loaded[1] is not None:
                    scheduled.append((path, loaded[0]))
            elif entry is not None and entry.workflow is not None and entry.schedule is not None:
                scheduled.append((path, entry.workflow))
        errors = duplicate_names(scheduled)
        if not errors:
            self._conflict = None
            return False
        if not self._started:
            raise InputErrors(errors)
        text = "\n".join(e.format() for e in errors)
        if text != self._conflict:  # polled every few seconds: say it once
            self._conflict = text
            log.error(
                "the workflow files were not reloaded: the previous set keeps running:\n%s",
                REDACTOR.redact(text),
            )
        return True

    def _apply(self, key: str, entry: WatchedFile, loaded: Loaded, *, first: bool) -> None:
        workflow, spec, inputs = loaded
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
        from task_runner.scheduling.triggers import describe

        job = jobs.add_schedule_job(self.scheduler, self._fire, key, workflow.name, spec)
        log.info(
            "%s: scheduled %s, %s, misfire %s; next run at %s",
            self.entries[key].path,
            workflow.name,
            describe(spec),
            spec.misfire,
            when(jobs.next_fire_time(job, spec)),
        )

    def _catch_up(self, key: str, workflow: Workflow, spec: ScheduleSpec) -> None:
        """Fire times missed while no scheduler ran: one run now (``misfire: run_once``)
        or a log line (``skip``). Needs a fire time recorded before: a workflow new to
        this state directory starts with its next fire time."""
        now = dt.datetime.now(dt.timezone.utc)
        missed = misfire.catch_up_time(self.history, workflow.name, spec, now)
        if missed is None:
            return
        jobs.add_catch_up_job(self.scheduler, self._fire, key, workflow.name, missed, now)

    def _unschedule(self, key: str) -> None:
        jobs.remove_job(self.scheduler, key)

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
        from task_runner.workflow.prepare import new_run_id

        scheduled_at = (scheduled_at or dt.datetime.now(dt.timezone.utc)).astimezone(
            dt.timezone.utc
        )
        entry = self.entries.get(key)
        if entry is not None and entry.workflow is not None and entry.schedule is not None:
            name = entry.workflow.name
            if misfire.claimed_elsewhere(
                self.leases, self.owner, entry.schedule, scheduled_at, name
            ):
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
                active = ActiveRun(new_run_id(), workflow.name, threading.Event(), time.monotonic())
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
        active: ActiveRun,
    ) -> None:
        """The run: enqueued for a worker (``--via celery``) or run here and logged."""
        from task_runner.runner.service import WorkflowBusyError

        if self.enqueue is not None:
            task_id = self.enqueue(str(path), inputs, scheduled_at, workflow.name)
            log.info("%s enqueued for a worker: task %s", workflow.name, task_id)
            return
        try:
            result = run_here(
                workflow,
                inputs,
                overrides,
                scheduled_at,
                active,
                history=self.history,
                max_workers=self.config.max_workers,
            )
        except WorkflowBusyError as exc:
            misfire.skip_busy(
                self.history, path, workflow.name, scheduled_at, exc.holder, active.run_id
            )
            return
        except TaskRunnerError as exc:
            log_failed(workflow.name, active, exc, time.monotonic() - active.started)
            return
        elapsed = time.monotonic() - active.started
        log_result(result, elapsed, self.next_run(str(path.resolve())))

    def next_run(self, key: str) -> dt.datetime | None:
        """The next fire time of the workflow file ``key`` in its zone, if scheduled."""
        entry = self.entries.get(key)
        if entry is None or entry.schedule is None or entry.workflow is None:
            return None
        try:
            job = self.scheduler.get_job(key)
        except Exception:  # the scheduler is shutting down
            return None
        return jobs.next_fire_time(job, entry.schedule) if job else None

    def _skip(
        self, key: str, workflow: str, scheduled_at: dt.datetime | None, previous: str | None
    ) -> None:
        entry = self.entries.get(key)
        misfire.skip_overlap(
            self.history,
            workflow,
            scheduled_at,
            previous,
            workflow_path=str(entry.path) if entry is not None else None,
            record=self.enqueue is None,
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
        misfire.log_missed(name, event.scheduled_run_time)
