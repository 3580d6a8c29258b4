"""One job: build HTTP clients whose rate budget, tokens and locks live in Redis.

:func:`redis_client_factory` is what a worker passes as ``ExecutionOptions.client_factory``.
Each connection's budget is namespaced by the API app it spends (host and client id,
hashed), because that is what Procore counts: two workflows with the same app share one
budget, two apps do not.

Refresh tokens stay in the local file store unless env ``TASK_RUNNER_TOKEN_STORE=redis``:
workers on several machines that share one Procore login need the Redis store, and then
every ``task-runner`` process using that login must set it too (a rotated refresh token
lives in one place only).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from task_runner.distributed.budget import RedisBudgetStore
from task_runner.distributed.tokens import RedisLocks, RedisTokenCache, RedisTokenStore
from task_runner.errors import UsageError
from task_runner.http.client import Client
from task_runner.http.clock import Clock
from task_runner.model import ConnectionConfig

if TYPE_CHECKING:
    import redis

__all__ = ["budget_namespace", "redis_client_factory"]


def budget_namespace(connection: ConnectionConfig) -> str:
    """A stable, secret-free name for the rate budget ``connection`` spends (the same
    connection identity the state directory's shared budget uses)."""
    from task_runner.state.shared import connection_identity

    return connection_identity(connection)


def redis_client_factory(client: redis.Redis) -> Callable[..., Client]:
    """``ExecutionOptions(client_factory=redis_client_factory(shared_redis()))``;
    ``build(connection, clock=None) -> Client``."""
    cache = RedisTokenCache(client)
    locks = RedisLocks(client)
    shared_refresh_tokens = _token_store_mode() == "redis"

    def build(connection: ConnectionConfig, clock: Clock | None = None) -> Client:
        store = None
        if shared_refresh_tokens and connection.auth.type == "oauth2_refresh_token":
            store = RedisTokenStore(client, budget_namespace(connection), locks=locks)
        return Client(
            connection,
            token_cache=cache,
            locks=locks,
            token_store=store,
            budget_store=RedisBudgetStore(client, namespace=budget_namespace(connection)),
            clock=clock,
        )

    return build


def _token_store_mode() -> str:
    mode = (os.environ.get("TASK_RUNNER_TOKEN_STORE") or "file").strip().lower()
    if mode not in ("file", "redis"):
        raise UsageError(f"TASK_RUNNER_TOKEN_STORE={mode!r} is not file or redis")
    return mode
