"""One job: execute one run on a worker, idempotently by run id.

What the Celery task ``task_runner.run_workflow`` does, step by step:

1. a run id whose success is recorded in Redis returns the recorded result (a message
   redelivered after the run succeeded is not run twice);
2. the ``run:<run_id>`` lease: a second delivery of a run that is still running (a too
   short visibility timeout) waits for the first instead of running beside it;
3. for scheduled runs, the ``active:<workflow>`` lease: another run of the workflow still
   active means this one is skipped (status ``skipped``), like the embedded scheduler;
4. :func:`task_runner.runner.service.run_workflow_file` with HTTP clients whose budget,
   tokens and locks are in Redis; a success is recorded under the run id.

The return value is exactly ``RunResult.to_json()``; a run that could not start (input
mistakes: exit 2) returns ``{"run_id", "workflow", "status": "error", "exit_code",
"errors": [...], "message"}``, the shape ``--output json`` prints for errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.distributed.clients import redis_client_factory
from task_runner.distributed.lease import Lease
from task_runner.distributed.settings import KEY_PREFIX, result_ttl, shared_redis
from task_runner.errors import InputErrors, TaskRunnerError
from task_runner.redact import REDACTOR

if TYPE_CHECKING:
    import redis

__all__ = [
    "SCHEDULED_TRIGGER",
    "SUBMITTED_TRIGGER",
    "error_payload",
    "execute_run",
    "recorded_result",
]

log = logging.getLogger("task_runner.distributed")

SCHEDULED_TRIGGER = "schedule"
SUBMITTED_TRIGGER = "celery"


def result_key(run_id: str) -> str:
    return f"{KEY_PREFIX}run:{run_id}:result"


def recorded_result(client: redis.Redis, run_id: str) -> dict[str, Any] | None:
    """The result of a run id that already succeeded, or ``None``."""
    raw = client.get(result_key(run_id))
    return json.loads(raw) if raw is not None else None


def execute_run(
    *,
    workflow: str,
    inputs: Mapping[str, Any],
    run_id: str,
    trigger: str = SUBMITTED_TRIGGER,
    scheduled_at: str | None = None,
    content: str | None = None,
    definitions: Sequence[str] = (),
    workflow_name: str | None = None,
    exclusive: bool = False,
    client: redis.Redis | None = None,
) -> dict[str, Any]:
    """Run once (or return the recorded success); see the module docstring."""
    client = client or shared_redis()
    done = recorded_result(client, run_id)
    if done is not None:
        log.info("run %s already succeeded; returning its recorded result", run_id)
        return done
    run_lease = Lease(client, f"run:{run_id}")
    run_lease.wait_acquire()
    cancel = threading.Event()
    with run_lease.renewing(on_lost=cancel.set):
        done = recorded_result(client, run_id)
        if done is not None:  # the delivery we waited for finished it
            return done
        with contextlib.ExitStack() as scope:
            if exclusive and workflow_name:
                guard = Lease(
                    client, f"active:{workflow_name}", value=f"{run_id}|{uuid.uuid4().hex}"
                )
                if not guard.acquire(take_over=f"{run_id}|"):
                    return _skipped(run_id, workflow_name, trigger, guard.holder())
                scope.enter_context(guard.renewing(on_lost=cancel.set))
            data = _run(
                workflow,
                inputs,
                run_id,
                trigger,
                scheduled_at,
                content,
                definitions,
                client,
                cancel,
            )
        if data.get("status") == "succeeded":
            client.set(result_key(run_id), json.dumps(data), px=int(result_ttl() * 1000))
        return data


def _run(
    workflow: str,
    inputs: Mapping[str, Any],
    run_id: str,
    trigger: str,
    scheduled_at: str | None,
    content: str | None,
    definitions: Sequence[str],
    client: redis.Redis,
    cancel: threading.Event,
) -> dict[str, Any]:
    from task_runner.http.clock import CancellableClock, SystemClock
    from task_runner.runner.executor import ExecutionOptions
    from task_runner.runner.service import run_workflow_file

    # The run's secrets live as long as the run: a worker runs many (task_runner.redact).
    with REDACTOR.scope(f"run {run_id}"):
        try:
            # Inside the try: a bad TASK_RUNNER_TOKEN_STORE is a usage error, not a crash.
            factory = redis_client_factory(client)
            clock = CancellableClock(SystemClock(), cancel)  # a lost lease ends a wait at once
            options = ExecutionOptions(client_factory=lambda c: factory(c, clock=clock))
            path = materialise(workflow, content)
            result = run_workflow_file(
                path,
                dict(inputs),
                definitions=list(definitions),
                options=options,
                cancel=cancel,
                trigger=trigger,
                run_id=run_id,
                scheduled_at=_parse_moment(scheduled_at),
            )
        except TaskRunnerError as exc:
            log.warning("run %s could not run: %s", run_id, REDACTOR.redact(exc.format()))
            return error_payload(exc, run_id=run_id, workflow=workflow)
        return result.to_json()  # type: ignore[no-any-return]


def materialise(workflow: str, content: str | None) -> Path:
    """The file to load: ``workflow`` itself when it holds ``content`` (or no content was
    sent), else a private copy of ``content`` (the worker is on another machine)."""
    path = Path(workflow)
    if content is None:
        return path
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == content:
            return path
    except OSError:
        pass
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "task-runner-submitted" / digest
    target = folder / (path.name or "workflow.yaml")
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".wf.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.replace(tmp, target)
    return target


def error_payload(exc: TaskRunnerError, *, run_id: str, workflow: str) -> dict[str, Any]:
    """What a run that could not start returns (and ``--output json`` prints for errors)."""
    errors = exc.to_dict()["errors"] if isinstance(exc, InputErrors) else [exc.to_dict()]
    payload = {
        "run_id": run_id,
        "workflow": workflow,
        "status": "error",
        "exit_code": exc.exit_code,
        "errors": errors,
        "message": exc.format(),
    }
    return REDACTOR.redact_obj(payload)  # type: ignore[no-any-return]


def _skipped(run_id: str, workflow: str, trigger: str, holder: str | None) -> dict[str, Any]:
    other = (holder or "?").split("|", 1)[0]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    now = now.replace("+00:00", "Z")
    log.info("run %s of %s skipped: run %s is still active", run_id, workflow, other)
    return {
        "run_id": run_id,
        "workflow": workflow,
        "status": "skipped",
        "trigger": trigger,
        "started_at": now,
        "finished_at": now,
        "window_start": None,
        "window_end": None,
        "error": f"skipped: run {other} of workflow {workflow} is still active",
        "item_count": 0,
        "tasks": {},
    }


def _parse_moment(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
