"""One job: share OAuth tokens and their locks between workers through Redis.

Implements the seams of :mod:`task_runner.http.tokens`:

* :class:`RedisTokenCache` (``TokenCache``): access tokens, so N workers fetch one token
  instead of N; each entry expires with its token;
* :class:`RedisLocks` (``LockFactory``): the lock around a token fetch or refresh, held
  across machines, so a rotating refresh token is never spent twice;
* :class:`RedisTokenStore` (``TokenStore``): the rotating refresh token itself, for
  deployments where workers on several machines share one Procore login.

Tokens are stored as plain text in Redis (they must be usable by every worker): protect
Redis like the secrets it holds (password, TLS, private network). Keys are hashes, never
client ids or secrets.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from task_runner.distributed.settings import KEY_PREFIX
from task_runner.errors import AuthError
from task_runner.http.tokens import AccessToken, StoredTokens
from task_runner.redact import REDACTOR

if TYPE_CHECKING:
    import redis
    from redis.lock import Lock

__all__ = ["RedisLocks", "RedisTokenCache", "RedisTokenStore"]

#: An access token without an expiry is kept this long, then fetched again.
UNDATED_TOKEN_TTL = 3600.0

#: Longest a token fetch or refresh may hold its lock (a dead holder frees it then).
LOCK_TIMEOUT = 120.0

#: Longest a worker waits for another worker's token fetch.
LOCK_WAIT = 60.0


class RedisTokenCache:
    """Access tokens by key, shared by every worker; entries expire with the token."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _key(self, key: str) -> str:
        return f"{KEY_PREFIX}tokens:access:{key}"

    def get(self, key: str) -> AccessToken | None:
        raw = self.client.get(self._key(key))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            token = AccessToken(str(data["value"]), data.get("refresh_at"))
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: fetch a new one
        _mask(token)
        return token

    def set(self, key: str, token: AccessToken) -> None:
        _mask(token)
        ttl = UNDATED_TOKEN_TTL
        if token.refresh_at is not None:
            ttl = token.refresh_at - time.time()
        if ttl <= 0:
            return
        payload = json.dumps({"value": token.value, "refresh_at": token.refresh_at})
        self.client.set(self._key(key), payload, px=max(1, int(ttl * 1000)))

    def delete(self, key: str) -> None:
        self.client.delete(self._key(key))


def _mask(token: AccessToken) -> None:
    """Mask the token for its lifetime, not the run's (workers serve many runs)."""
    REDACTOR.add(token.value, expires_at=(token.refresh_at or time.time()) + UNDATED_TOKEN_TTL)


class RedisLocks:
    """A ``LockFactory``: ``locks(name)`` is a Redis lock, released when its holder dies."""

    def __init__(
        self, client: redis.Redis, *, timeout: float = LOCK_TIMEOUT, wait: float = LOCK_WAIT
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.wait = wait

    def __call__(self, key: str) -> _HeldLock:
        lock = self.client.lock(
            f"{KEY_PREFIX}locks:{key}", timeout=self.timeout, blocking_timeout=self.wait
        )
        return _HeldLock(lock, key, self.wait)


class _HeldLock:
    """A context manager that turns "could not get the lock in time" into an AuthError."""

    def __init__(self, lock: Lock, name: str, wait: float) -> None:
        self.lock, self.name, self.wait = lock, name, wait

    def __enter__(self) -> _HeldLock:
        if not self.lock.acquire():
            raise AuthError(
                f"another worker held the token lock {self.name} for more than {self.wait:g}s",
                hint="check for a stuck worker; the lock frees itself when its holder dies",
            )
        return self

    def __exit__(self, *exc: object) -> None:
        from redis.exceptions import LockError

        try:
            self.lock.release()
        except LockError:
            pass  # expired while held: someone else may hold it now, nothing to release


class RedisTokenStore:
    """A ``TokenStore`` in Redis for one connection's rotating refresh token."""

    def __init__(self, client: redis.Redis, name: str, *, locks: RedisLocks | None = None) -> None:
        self.client = client
        self.key = f"redis:{name}"
        self._data_key = f"{KEY_PREFIX}tokens:refresh:{name}"
        self._locks = locks or RedisLocks(client)

    def lock(self) -> Any:
        return self._locks(f"refresh-store:{self.key}")

    def load(self) -> StoredTokens | None:
        raw = self.client.get(self._data_key)
        if raw is None:
            return None
        try:
            return StoredTokens.from_json(raw)
        except ValueError:
            raise AuthError(
                f"the Redis token store {self._data_key} holds no token written by task-runner",
                hint="delete the key and set the connection's refresh_token again",
            ) from None

    def save(self, tokens: StoredTokens) -> None:
        self.client.set(self._data_key, tokens.to_json())
