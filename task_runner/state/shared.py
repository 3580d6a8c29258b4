"""One job: one token cache and one rate budget per connection identity, for every run
of every process on this machine that shares a state directory.

Procore counts requests per app and token per hour, across all the runs that spend them,
so a scheduler running three workflows, and a ``run`` started beside it, must share:

* :class:`SqliteTokenCache`: access tokens by key (the auth layer's key names the token
  URL and client id, never a secret), in ``<state>/tokens/cache.db`` (mode 600, beside
  the refresh-token files, not in ``state.db``, which holds no secret), with a copy in
  memory so a request does not read the file while its token is fresh;
* :class:`FileLocks`: a :data:`~task_runner.http.tokens.LockFactory` over ``filelock``,
  so one process fetches a token while the others wait for it and then read it;
* :class:`SqliteBudgetStore`: the throttle's two brakes (the client's ``rate_limit``
  window and the server's ``X-Rate-Limit-Remaining``) in ``state.db``, keyed by the
  connection identity (:func:`connection_identity`: host, client id, auth type).

:func:`shared_client_factory` puts them together, one set per state directory per
process: what ``run``, ``schedule`` and the soak benchmark pass as
``ExecutionOptions.client_factory``. Celery workers keep the Redis-backed equivalents
(:mod:`task_runner.distributed.clients`), which span machines.

Example::

    options = ExecutionOptions(client_factory=shared_client_factory(".task-runner"))
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import filelock

from task_runner.errors import AuthError
from task_runner.http.tokens import TOKEN_MASK_GRACE, AccessToken, mask_token
from task_runner.model import ConnectionConfig, RateLimit

if TYPE_CHECKING:
    from task_runner.http.client import Client
    from task_runner.http.clock import Clock

__all__ = [
    "TOKEN_MASK_GRACE",
    "FileLocks",
    "SqliteBudgetStore",
    "SqliteTokenCache",
    "connection_identity",
    "shared_client_factory",
]

BUSY_TIMEOUT_SECONDS = 60.0
LOCK_WAIT = 60.0
#: A cached token without an expiry is kept (and masked) this long.
UNDATED_TOKEN_TTL = 3600.0


def connection_identity(connection: ConnectionConfig) -> str:
    """A stable, secret-free name for what a connection spends: the API host, the app
    (client id) and the auth type, hashed. Two workflows with the same app share it."""
    host = urlsplit(connection.base_url).netloc.lower()
    ident = f"{host}|{connection.auth.client_id or ''}|{connection.auth.type}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


class _Database:
    """One SQLite file, one connection per thread, every write in ``BEGIN IMMEDIATE``."""

    def __init__(self, path: Path, schema: tuple[str, ...], private: bool = False) -> None:
        self.path = path
        self.schema = schema
        self.private = private
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self.private and not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in self.schema:
                conn.execute(statement)
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        # Every row read, so the statement is finished at once: this connection lives as
        # long as its thread, and an unfinished read would hold a WAL snapshot.
        rows = self._conn().execute(sql, params).fetchall()
        return tuple(rows[0]) if rows else None


class SqliteTokenCache:
    """A :class:`~task_runner.http.tokens.TokenCache` in ``path``, shared by processes.

    Every token read or written is registered with the redactor until it expires
    (:data:`TOKEN_MASK_GRACE` after its refresh time); expired rows are deleted.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.db = _Database(
            Path(path),
            (
                "CREATE TABLE IF NOT EXISTS access_tokens (key TEXT PRIMARY KEY, "
                "value TEXT NOT NULL, refresh_at REAL, stored_ts REAL NOT NULL)",
            ),
            private=True,
        )
        self._lock = threading.Lock()
        self._memory: dict[str, AccessToken] = {}

    def get(self, key: str) -> AccessToken | None:
        with self._lock:
            token = self._memory.get(key)
        if token is not None and token.fresh(time.time()):
            return token
        row = self.db.read("SELECT value, refresh_at FROM access_tokens WHERE key = ?", (key,))
        if row is None:
            return None
        token = AccessToken(str(row[0]), row[1])
        _mask(token)
        with self._lock:
            self._memory[key] = token
        return token

    def set(self, key: str, token: AccessToken) -> None:
        _mask(token)
        now = time.time()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO access_tokens (key, value, refresh_at, stored_ts) VALUES "
                "(?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "refresh_at = excluded.refresh_at, stored_ts = excluded.stored_ts",
                (key, token.value, token.refresh_at, now),
            )
            # Expired tokens are dropped, not kept: nothing may use them any more.
            conn.execute(
                "DELETE FROM access_tokens WHERE COALESCE(refresh_at, stored_ts + ?) < ?",
                (UNDATED_TOKEN_TTL, now - TOKEN_MASK_GRACE),
            )
        with self._lock:
            self._memory[key] = token

    def delete(self, key: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM access_tokens WHERE key = ?", (key,))
        with self._lock:
            self._memory.pop(key, None)


def _mask(token: AccessToken) -> None:
    mask_token(token.value, token.refresh_at)


class FileLocks:
    """A :data:`~task_runner.http.tokens.LockFactory`: ``locks(name)`` holds a thread lock
    and ``<folder>/<hash of name>.lock`` (``filelock``), so one thread of one process at a
    time fetches a connection's token. Raises :class:`AuthError` after :data:`LOCK_WAIT`."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._guard = threading.Lock()
        self._threads: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        digest = hashlib.sha256(name.encode()).hexdigest()[:24]
        with self._guard:
            thread_lock = self._threads.setdefault(digest, threading.Lock())
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with thread_lock:
            try:
                with filelock.FileLock(str(self.folder / f"{digest}.lock"), timeout=LOCK_WAIT):
                    yield
            except filelock.Timeout:
                raise AuthError(
                    f"another process held the token lock for {LOCK_WAIT:g}s",
                    hint="check for a stuck task-runner process",
                ) from None


class SqliteBudgetStore:
    """A :class:`~task_runner.http.throttle.BudgetStore` in the state database, shared
    by every process on the machine; ``namespace`` is the connection identity."""

    def __init__(self, path: str | os.PathLike[str], namespace: str) -> None:
        self.db = _db_for(Path(path))
        self.namespace = namespace

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def reserve(self, key: str, limit: RateLimit, now: float) -> float:
        name = self._key(key)
        with self.db.write() as conn:
            conn.execute(
                "DELETE FROM budget_sent WHERE key = ? AND sent_ts <= ?", (name, now - limit.per)
            )
            [(count, oldest)] = conn.execute(
                "SELECT COUNT(*), MIN(sent_ts) FROM budget_sent WHERE key = ?", (name,)
            ).fetchall()
            if count < limit.requests:
                conn.execute("INSERT INTO budget_sent (key, sent_ts) VALUES (?, ?)", (name, now))
                return 0.0
        return float(max(oldest + limit.per - now, 1e-3))

    def observe_server(self, key: str, remaining: int, reset: float) -> None:
        name = self._key(key)
        with self.db.write() as conn:
            # Same rules as InMemoryBudgetStore: a new reset starts over; within one window
            # the lowest count is the truest (answers arrive out of order).
            conn.execute(
                "INSERT INTO budget_server (key, remaining, reset) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET remaining = CASE WHEN reset = excluded.reset "
                "THEN MIN(remaining, excluded.remaining) ELSE excluded.remaining END, "
                "reset = excluded.reset",
                (name, remaining, reset),
            )

    def take_server(self, key: str, now: float) -> float:
        name = self._key(key)
        row = self.db.read("SELECT remaining, reset FROM budget_server WHERE key = ?", (name,))
        if row is None:
            return 0.0  # nothing known: no write needed
        with self.db.write() as conn:
            found = conn.execute(
                "SELECT remaining, reset FROM budget_server WHERE key = ?", (name,)
            ).fetchall()
            if not found:
                return 0.0
            [(remaining, reset)] = found
            if now >= reset:
                conn.execute("DELETE FROM budget_server WHERE key = ?", (name,))
                return 0.0
            if remaining > 0:
                conn.execute(
                    "UPDATE budget_server SET remaining = remaining - 1 WHERE key = ?", (name,)
                )
                return 0.0
        return float(reset - now)


class _CredentialCache:
    """A view of a token cache whose keys also name the credentials (a digest): a token
    fetched with one client secret is never handed to a run that has another one (a
    wrong or rotated secret must fail, or fetch its own token, not borrow one)."""

    def __init__(self, cache: SqliteTokenCache, digest: str) -> None:
        self.cache = cache
        self.digest = digest

    def get(self, key: str) -> AccessToken | None:
        return self.cache.get(f"{key}:{self.digest}")

    def set(self, key: str, token: AccessToken) -> None:
        self.cache.set(f"{key}:{self.digest}", token)

    def delete(self, key: str) -> None:
        self.cache.delete(f"{key}:{self.digest}")


def _credential_digest(connection: ConnectionConfig) -> str:
    auth = connection.auth
    material = "|".join(
        str(x or "") for x in (auth.type, auth.client_id, auth.client_secret, auth.scope)
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


_BUDGET_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS budget_sent (key TEXT NOT NULL, sent_ts REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS budget_sent_by_key ON budget_sent (key, sent_ts)",
    "CREATE TABLE IF NOT EXISTS budget_server (key TEXT PRIMARY KEY, remaining INTEGER "
    "NOT NULL, reset REAL NOT NULL)",
)
_DATABASES: dict[Path, _Database] = {}
_FACTORIES: dict[Path, Callable[..., Client]] = {}
_REGISTRY_LOCK = threading.Lock()


def _db_for(path: Path) -> _Database:
    key = path.resolve()
    with _REGISTRY_LOCK:
        if key not in _DATABASES:
            _DATABASES[key] = _Database(key, _BUDGET_SCHEMA)
        return _DATABASES[key]


def shared_client_factory(
    state_dir: str | os.PathLike[str],
) -> Callable[..., Client]:
    """``build(connection, clock=None) -> Client`` whose tokens, token locks and rate budget are the
    ones every run of this process (one set per ``state_dir``) and every process using
    ``state_dir`` share. Each call of ``build`` makes a new client (its own connection
    pool, closed by the run); what the clients share lives on."""
    folder = Path(state_dir).resolve()
    with _REGISTRY_LOCK:
        made = _FACTORIES.get(folder)
    if made is not None:
        return made
    from task_runner.http.client import Client
    from task_runner.state.history import DB_NAME

    cache = SqliteTokenCache(folder / "tokens" / "cache.db")
    locks = FileLocks(folder / "tokens" / "locks")

    def build(connection: ConnectionConfig, clock: Clock | None = None) -> Client:
        return Client(
            connection,
            token_cache=_CredentialCache(cache, _credential_digest(connection)),
            locks=locks,
            budget_store=SqliteBudgetStore(folder / DB_NAME, connection_identity(connection)),
            clock=clock,
        )

    with _REGISTRY_LOCK:
        return _FACTORIES.setdefault(folder, build)
