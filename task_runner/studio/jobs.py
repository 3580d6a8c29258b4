"""Test requests running in worker threads, one job each, cancellable.

A job runs :func:`task_runner.recording.session.run_task_once` -- the code path of
``task-runner test-request`` -- with the recording, the HAR file beside it and the drift
report from the previous recording (``--compare``). Cancelling sets the job's
:attr:`Job.cancel` event, which the work passes to ``run_task_once(cancel=...)``: a wait
in progress (retry backoff, ``Retry-After``, a rate-limit pause) ends at once, no
further request or page is sent, and the job ends ``cancelled`` with what was recorded
up to then. A response being read when the cancel comes finishes first; the task's
``timeout`` bounds it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from task_runner.errors import Interrupted, TaskRunnerError

__all__ = ["Job", "JobBoard"]


@dataclass
class Job:
    """One test request: ``state`` is running, done, failed, invalid or cancelled."""

    id: str
    workflow: str
    task: str
    started: float = field(default_factory=time.monotonic)
    state: str = "running"
    result: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def cancel_requested(self) -> bool:
        return self.cancel.is_set()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "task": self.task,
            "state": self.state,
            "elapsed": round(time.monotonic() - self.started, 3),
            "notes": list(self.notes),
            "result": self.result,
        }


class JobBoard:
    """The jobs of one studio process; the newest ``keep`` are remembered."""

    def __init__(self, keep: int = 50) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._keep = keep

    def start(self, workflow: str, task: str, work: Callable[[Job], dict[str, Any]]) -> Job:
        """Run ``work(job)`` in a daemon thread; its dict becomes ``job.result``."""
        job = Job(f"t{next(self._ids)}", workflow, task)

        def target() -> None:
            result: dict[str, Any]
            try:
                result = work(job)
                state = "done"
            except Interrupted as exc:
                result, state = {"error": exc.message}, "cancelled"
            except TaskRunnerError as exc:
                from task_runner.contract import failure_json

                result = failure_json(exc)
                state = "invalid" if exc.exit_code == 2 else "failed"
            except Exception as exc:  # a bug: say so rather than hang the page
                result, state = {"error": f"internal error: {type(exc).__name__}: {exc}"}, "failed"
            if job.cancel_requested and state in ("done", "failed"):
                state = "cancelled"  # stopped by the user: what it got so far is kept
            job.result, job.state = result, state

        job.thread = threading.Thread(target=target, name=f"studio-test-{job.id}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
            for old in list(self._jobs)[: -self._keep]:
                if self._jobs[old].state != "running":
                    del self._jobs[old]
        job.thread.start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job: Job) -> None:
        """Stop a running job: its :attr:`Job.cancel` event is set (see the module)."""
        if job.state != "running" or job.cancel.is_set():
            return
        job.cancel.set()
        job.notes.append(
            "cancelling: a wait stops at once; a response being read ends first "
            "(at most the task's timeout)"
        )

    def cancel_all(self) -> None:
        """Cancel every running job (at shutdown)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            self.cancel(job)

    def wait_all(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout`` seconds each) for running jobs, e.g. at shutdown."""
        with self._lock:
            threads = [j.thread for j in self._jobs.values() if j.thread is not None]
        for thread in threads:
            thread.join(timeout)
