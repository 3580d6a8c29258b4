"""One job: read the distributed settings (Redis URL, key prefix, timings) from the environment.

Every worker and every submitter must agree on these, so they come from environment
variables that a deployment sets once::

    TASK_RUNNER_BROKER_URL          redis://127.0.0.1:6379/0  (the Celery broker)
    TASK_RUNNER_RESULT_BACKEND      the broker URL
    TASK_RUNNER_REDIS_URL           the broker URL (shared state: budgets, tokens, leases)
    TASK_RUNNER_VISIBILITY_TIMEOUT  3600 s: an unacknowledged run is redelivered after this
    TASK_RUNNER_LEASE_TTL           30 s: a dead worker's leases expire after this
    TASK_RUNNER_RESULT_TTL          7 days: how long a finished run's result is kept
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from task_runner.errors import UsageError

if TYPE_CHECKING:
    import redis

__all__ = [
    "DEFAULT_BROKER_URL",
    "KEY_PREFIX",
    "broker_url",
    "env_seconds",
    "lease_ttl",
    "redis_url",
    "result_backend",
    "result_ttl",
    "shared_redis",
    "visibility_timeout",
]

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"

#: Every key this package writes starts with this, so an admin can find (and flush) them.
KEY_PREFIX = "task-runner:"

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def broker_url() -> str:
    return os.environ.get("TASK_RUNNER_BROKER_URL") or DEFAULT_BROKER_URL


def result_backend() -> str:
    return os.environ.get("TASK_RUNNER_RESULT_BACKEND") or broker_url()


def redis_url() -> str:
    return os.environ.get("TASK_RUNNER_REDIS_URL") or broker_url()


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from env ``name``; a bad value is a usage error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise UsageError(f"{name}={raw!r} is not a positive number of seconds")
    return value


def visibility_timeout() -> float:
    return env_seconds("TASK_RUNNER_VISIBILITY_TIMEOUT", 3600.0)


def lease_ttl() -> float:
    return env_seconds("TASK_RUNNER_LEASE_TTL", 30.0)


def result_ttl() -> float:
    return env_seconds("TASK_RUNNER_RESULT_TTL", 7 * 86400.0)


def shared_redis(url: str | None = None) -> redis.Redis:
    """One client (a thread-safe connection pool) per URL and process."""
    import redis as redis_lib

    url = url or redis_url()
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis_lib.Redis.from_url(url, socket_timeout=30, health_check_interval=30)
            _clients[url] = client
        return client
