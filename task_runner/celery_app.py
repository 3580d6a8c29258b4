"""The Celery application: workers that execute workflow runs, with Redis as broker.

Start workers with::

    TASK_RUNNER_BROKER_URL=redis://redis.internal:6379/0 \\
        celery -A task_runner.celery_app worker --concurrency 8

and send runs with ``task-runner submit`` or ``task-runner schedule --via celery``.

Delivery is at least once and the runs are idempotent: acknowledgement is late (after
the run), a worker that dies mid-run leaves its message unacknowledged, and Redis hands
it to another worker after ``TASK_RUNNER_VISIBILITY_TIMEOUT`` seconds (default one hour:
it must exceed the longest run). The run id (the Celery task id) makes the redelivery
safe: a run that already succeeded returns its recorded result instead of running again.

Settings (environment): ``TASK_RUNNER_BROKER_URL`` (default ``redis://127.0.0.1:6379/0``),
``TASK_RUNNER_RESULT_BACKEND`` (default: the broker), ``TASK_RUNNER_QUEUE`` (default
``task-runner``), ``TASK_RUNNER_VISIBILITY_TIMEOUT``, ``TASK_RUNNER_LEASE_TTL``,
``TASK_RUNNER_RESULT_TTL``; see :mod:`task_runner.distributed.settings`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals

from task_runner.distributed import settings
from task_runner.redact import RedactingLogFilter

__all__ = [
    "DEFAULT_QUEUE",
    "RUN_TASK",
    "app",
    "default_queue",
    "run_workflow",
    "use_broker",
]

RUN_TASK = "task_runner.run_workflow"
DEFAULT_QUEUE = "task-runner"


def default_queue() -> str:
    return os.environ.get("TASK_RUNNER_QUEUE") or DEFAULT_QUEUE


def _transport_options() -> dict[str, Any]:
    visibility = settings.visibility_timeout()
    # Kombu looks for expired unacknowledged messages every interval * throttle seconds;
    # with a short visibility timeout the sweep must be as frequent, or redelivery lags.
    interval = max(1, min(10, int(visibility // 4) or 1))
    return {
        "visibility_timeout": visibility,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": 1 if visibility < 600 else 10,
    }


def make_app() -> Celery:
    """A Celery app configured from the environment (read once, at import)."""
    celery = Celery("task_runner", broker=settings.broker_url(), backend=settings.result_backend())
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=default_queue(),
        task_track_started=True,
        result_expires=int(settings.result_ttl()),
        broker_transport_options=_transport_options(),
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
    )
    return celery


app = make_app()


def use_broker(url: str, result_backend: str | None = None) -> None:
    """Point this process's app at another Redis (tests, benchmarks, tools that start their
    own): the settings are read at import, so the cached connections must go too."""
    app.conf.broker_url = url
    app.conf.result_backend = result_backend or url
    if hasattr(app._local, "backend"):
        del app._local.backend
    app._pool = None
    if "amqp" in app.__dict__:
        app.__dict__["amqp"]._producer_pool = None


@app.task(name=RUN_TASK, bind=True)
def run_workflow(
    self: Any,
    workflow: str,
    inputs: dict[str, Any] | None = None,
    trigger: str = "celery",
    run_id: str | None = None,
    scheduled_at: str | None = None,
    content: str | None = None,
    definitions: list[str] | None = None,
    workflow_name: str | None = None,
    exclusive: bool = False,
) -> dict[str, Any]:
    """Execute one run of ``workflow`` (a path; ``content``, if sent, is the file's text)
    and return ``RunResult.to_json()``. ``run_id`` defaults to the Celery task id."""
    from task_runner.distributed.worker import execute_run

    return execute_run(
        workflow=workflow,
        inputs=inputs or {},
        run_id=run_id or str(self.request.id),
        trigger=trigger,
        scheduled_at=scheduled_at,
        content=content,
        definitions=definitions or (),
        workflow_name=workflow_name,
        exclusive=exclusive,
    )


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _redact_worker_logs(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is None:
        return
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingLogFilter) for f in handler.filters):
            handler.addFilter(RedactingLogFilter())
    ours = logging.getLogger("task_runner")
    if not ours.handlers:
        ours.setLevel(logging.INFO)
