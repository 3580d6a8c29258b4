"""One job: keep OAuth tokens between requests, threads and processes.

Three seams, each with a local default, so the Redis-backed versions in
:mod:`task_runner.distributed.tokens` (shared by machines) replace them without touching
the auth layer:

* :class:`TokenCache`: access tokens by key (default :class:`InMemoryTokenCache`);
* :data:`LockFactory`: a named mutual-exclusion lock (default :class:`ThreadLocks`);
* :class:`TokenStore`: the durable refresh token, with its own cross-process lock
  (default :class:`FileTokenStore`: a JSON file written atomically, mode 600, guarded
  by a ``filelock.FileLock`` so two processes never spend one refresh token).

Example::

    store = FileTokenStore("~/.task-runner/tokens/procore.json")
    with store.lock():
        tokens = store.load()
        ...refresh...
        store.save(StoredTokens(refresh_token=new_rt, access_token=at, refresh_at=t))
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import filelock

from task_runner.errors import AuthError
from task_runner.redact import REDACTOR

__all__ = [
    "AccessToken",
    "FileTokenStore",
    "InMemoryTokenCache",
    "LockFactory",
    "MemoryTokenStore",
    "StoredTokens",
    "ThreadLocks",
    "TokenCache",
    "TokenStore",
    "default_token_store_path",
    "mask_token",
]

#: How long a process waits for another one to finish its refresh before giving up.
STORE_LOCK_TIMEOUT = 60.0


@dataclass(frozen=True)
class AccessToken:
    """An access token and the wall time after which we fetch a new one."""

    value: str = field(repr=False)
    refresh_at: float | None = None

    def fresh(self, now: float) -> bool:
        return self.refresh_at is None or now < self.refresh_at


@dataclass(frozen=True)
class StoredTokens:
    """What a token store keeps: the rotating refresh token and the access token it got."""

    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_at: float | None = None

    def access(self) -> AccessToken | None:
        if self.access_token is None:
            return None
        return AccessToken(self.access_token, self.refresh_at)

    @classmethod
    def from_json(cls, text: str | bytes) -> StoredTokens:
        """Parse what a store wrote and register the tokens with the redactor.

        Raises ``ValueError`` when ``text`` is not a token record written by task-runner.
        """
        try:
            data = json.loads(text)
            tokens = cls(
                refresh_token=str(data["refresh_token"]),
                access_token=data.get("access_token"),
                refresh_at=data.get("refresh_at"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError("not a token record") from exc
        _register(tokens)
        return tokens

    def to_json(self) -> str:
        """The record every store writes (what :meth:`from_json` reads); the tokens are
        registered with the redactor first."""
        _register(self)
        return json.dumps(
            {
                "refresh_token": self.refresh_token,
                "access_token": self.access_token,
                "refresh_at": self.refresh_at,
            }
        )


class TokenCache(Protocol):
    def get(self, key: str) -> AccessToken | None: ...

    def set(self, key: str, token: AccessToken) -> None: ...

    def delete(self, key: str) -> None: ...


class InMemoryTokenCache:
    """Access tokens for this process, shared by all threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, AccessToken] = {}

    def get(self, key: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get(key)

    def set(self, key: str, token: AccessToken) -> None:
        # Masked for the token's lifetime, which may outlast the run that fetched it.
        mask_token(token.value, token.refresh_at)
        with self._lock:
            self._tokens[key] = token

    def delete(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


#: ``locks("some-key")`` returns a context manager holding the lock named ``some-key``.
LockFactory = Callable[[str], ContextManager[Any]]


class ThreadLocks:
    """A :data:`LockFactory` for one process: one ``threading.Lock`` per name."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def __call__(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


class TokenStore(Protocol):
    """The durable home of a refresh token; ``lock()`` excludes every other user."""

    @property
    def key(self) -> str: ...

    def lock(self) -> ContextManager[Any]: ...

    def load(self) -> StoredTokens | None: ...

    def save(self, tokens: StoredTokens) -> None: ...


class MemoryTokenStore:
    """A store that lives as long as the process (tests, one-off runs)."""

    def __init__(self, tokens: StoredTokens | None = None) -> None:
        self._tokens = tokens
        self._lock = threading.RLock()
        self.key = f"memory:{id(self)}"

    def lock(self) -> ContextManager[Any]:
        return self._lock

    def load(self) -> StoredTokens | None:
        return self._tokens

    def save(self, tokens: StoredTokens) -> None:
        _register(tokens)
        self._tokens = tokens


class FileTokenStore:
    """A JSON file (mode 600) replaced atomically, locked with ``<path>.lock``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.key = f"file:{self.path.resolve()}"
        self._filelock = filelock.FileLock(str(self.path) + ".lock", timeout=STORE_LOCK_TIMEOUT)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with self._filelock:
                yield
        except filelock.Timeout:
            raise AuthError(
                f"token store {self.path} stayed locked by another process for "
                f"{STORE_LOCK_TIMEOUT:g}s",
                hint="check for a stuck task-runner process",
            ) from None

    def load(self) -> StoredTokens | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuthError(f"cannot read token store {self.path}: {exc.strerror}") from None
        try:
            return StoredTokens.from_json(text)
        except ValueError:
            raise AuthError(
                f"token store {self.path} is not a token file written by task-runner",
                hint="delete it and set the connection's refresh_token again",
            ) from None

    def save(self, tokens: StoredTokens) -> None:
        """Write the file so that a crash leaves either the old or the new one whole."""
        text = tokens.to_json()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)


def default_token_store_path(connection: str) -> Path:
    """``$TASK_RUNNER_STATE_DIR/tokens/<connection>.json`` (default dir ``.task-runner``)."""
    state = os.environ.get("TASK_RUNNER_STATE_DIR") or ".task-runner"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in connection) or "default"
    return Path(state) / "tokens" / f"{safe}.json"


#: A token stays masked this long (seconds) after its refresh time: it is valid at the
#: server until its real expiry, at most ``refresh_margin`` later (see ``auth._refresh_at``:
#: expiry - refresh time = min(margin, expires_in / 2)), so this covers margins up to 10 min.
TOKEN_MASK_GRACE = 600.0


def mask_token(value: str | None, refresh_at: float | None) -> None:
    """Register an access token with the redactor until ``refresh_at`` plus
    :data:`TOKEN_MASK_GRACE`; then it is dropped: an expired token is no secret, and a
    scheduler must not keep them all. Without ``refresh_at`` (the token endpoint gave no
    ``expires_in``), the token is used until refused, so it is masked like any secret."""
    # No expiry given: it is used until refused, so for the process's lifetime (not the
    # run's: the next run takes it from the cache).
    until = math.inf if refresh_at is None else refresh_at + TOKEN_MASK_GRACE
    REDACTOR.add(value, expires_at=until)


def _register(tokens: StoredTokens) -> None:
    # The refresh token belongs to the run that reads it (or to the process outside
    # runs); it is read again, and registered again, whenever it is used.
    REDACTOR.add(tokens.refresh_token)
    mask_token(tokens.access_token, tokens.refresh_at)


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable: the rotated token must survive a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
