"""One job: send runs to the Celery workers and wait for their results.

* :func:`submit`: enqueue one run of a workflow file (``task-runner submit``);
* :func:`enqueue_scheduled_run`: enqueue the run a schedule fired (``task-runner
  schedule --via celery``); the run id is derived from the workflow, its inputs and the
  schedule time, so two schedulers (or one restarted) firing the same moment enqueue it
  once, and at most one run per workflow is active across the workers;
* :func:`wait_for`: block until a run's result is in the result backend.

The workflow's text travels with the message, so workers need not share a file system
with the submitter; a worker that has the same file at the same path loads it from there.
Inputs travel as typed JSON values (``777``, not the text ``0777``): text typed on a
command line is read by its input's declared type before it is sent, never by the worker.

Example::

    run_id = submit("examples/workflows/procore_images_all.yaml", {"project_id": 777})
    result = wait_for(run_id, timeout=600)   # RunResult.to_json()
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from task_runner.distributed.settings import KEY_PREFIX, result_ttl, shared_redis
from task_runner.errors import RunError, TaskRunnerError, UsageError

__all__ = [
    "RunTimeout",
    "enqueue_scheduled_run",
    "scheduled_run_id",
    "submit",
    "wait_for",
]


class RunTimeout(RunError):
    """``--wait`` gave up before the run finished (the run itself goes on)."""


def submit(
    path: str | Path,
    inputs: Mapping[str, Any],
    *,
    trigger: str = "celery",
    run_id: str | None = None,
    scheduled_at: dt.datetime | None = None,
    definitions: Sequence[str] = (),
    workflow_name: str | None = None,
    exclusive: bool = False,
    queue: str | None = None,
) -> str:
    """Enqueue one run of the workflow file at ``path``; return its run id (= task id)."""
    from task_runner.celery_app import default_queue, run_workflow
    from task_runner.workflow.prepare import new_run_id

    file = Path(path).expanduser().resolve()
    try:
        content = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read workflow {path}: {exc.strerror}") from None
    run_id = run_id or new_run_id()
    kwargs = {
        "workflow": str(file),
        "inputs": _message_inputs(file, inputs, definitions),
        "trigger": trigger,
        "run_id": run_id,
        "scheduled_at": _iso(scheduled_at),
        "content": content,
        "definitions": [str(Path(d).expanduser().resolve()) for d in definitions],
        "workflow_name": workflow_name,
        "exclusive": exclusive,
    }
    try:
        run_workflow.apply_async(kwargs=kwargs, task_id=run_id, queue=queue or default_queue())
    except Exception as exc:  # kombu's connection errors have no common public base
        raise RunError(
            f"cannot enqueue the run: the broker is unreachable ({type(exc).__name__}: {exc})",
            hint="check TASK_RUNNER_BROKER_URL and that Redis is running",
        ) from None
    return run_id


def _message_inputs(
    file: Path, inputs: Mapping[str, Any], definitions: Sequence[str]
) -> dict[str, Any]:
    """The inputs as the JSON values the worker runs with.

    Command-line text (``InputText``, from ``parse_inputs``) is read by the workflow's
    declared input types here, once: through JSON it would arrive as a plain string, and a
    worker would take ``"0777"`` as a Python value rather than as text to be read by its
    type. ``task-runner submit`` sends values it has already read.
    """
    from task_runner.workflow.inputs import InputText

    if any(isinstance(v, InputText) for v in inputs.values()):
        from task_runner.workflow import load_workflow
        from task_runner.workflow.prepare import resolve_inputs

        values = resolve_inputs(load_workflow(file, definitions=definitions), inputs)
        inputs = {k: values[k] for k in inputs}
    return json.loads(json.dumps(dict(inputs), default=str))  # type: ignore[no-any-return]


def scheduled_run_id(
    workflow_name: str, path: str | Path, inputs: Mapping[str, Any], scheduled_at: dt.datetime
) -> str:
    """The same id for the same workflow, inputs and schedule time, wherever computed."""
    moment = _utc(scheduled_at)
    ident = json.dumps(
        [workflow_name, str(Path(path).expanduser().resolve()), dict(inputs)],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(ident.encode()).hexdigest()[:8]
    return f"{moment:%Y%m%dT%H%M%SZ}-{digest}"


def enqueue_scheduled_run(
    path: str, inputs: dict[str, Any], scheduled_at: dt.datetime, workflow_name: str
) -> str:
    """Enqueue the run the schedule fired at ``scheduled_at`` (once); return its run id."""
    from task_runner.distributed.worker import SCHEDULED_TRIGGER

    run_id = scheduled_run_id(workflow_name, path, inputs, scheduled_at)
    marker = f"{KEY_PREFIX}enqueued:{run_id}"
    if not shared_redis().set(marker, "1", nx=True, px=int(result_ttl() * 1000)):
        return run_id  # another scheduler (or an earlier try) already enqueued it
    try:
        return submit(
            path,
            inputs,
            trigger=SCHEDULED_TRIGGER,
            run_id=run_id,
            scheduled_at=scheduled_at,
            workflow_name=workflow_name,
            exclusive=True,
        )
    except TaskRunnerError:
        shared_redis().delete(marker)  # not enqueued: let the next try go
        raise


def wait_for(run_id: str, *, timeout: float | None = None, poll: float = 0.2) -> dict[str, Any]:
    """The run's result (``RunResult.to_json()`` or an error payload) once it is done."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    from task_runner.celery_app import app

    handle = app.AsyncResult(run_id)
    try:
        value = handle.get(timeout=timeout, interval=poll, propagate=False)
    except CeleryTimeout:
        # Stop listening now: left to AsyncResult.__del__ at interpreter exit, the
        # unsubscribe runs on a half-torn-down connection and prints a traceback.
        with contextlib.suppress(Exception):
            handle.backend.remove_pending_result(handle)
        handle.backend = None
        raise RunTimeout(
            f"run {run_id} did not finish within {timeout:g}s; it keeps running on the workers",
            hint="wait longer with --timeout, or look it up later in the run history",
        ) from None
    if handle.failed() or not isinstance(value, dict):
        raise RunError(f"run {run_id} crashed on the worker: {type(value).__name__}: {value}")
    return value


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def _iso(moment: dt.datetime | None) -> str | None:
    return _utc(moment).isoformat().replace("+00:00", "Z") if moment else None
