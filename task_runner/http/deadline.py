"""One job: end an HTTP attempt that runs past its total deadline.

Socket timeouts bound each read, not the whole answer: a server that sends one byte a
second never trips a 60 s read timeout, in the headers (``http.client`` reads them line
by line) or in the body. urllib3's ``Timeout(total=...)`` does not help either: it only
shortens the timeout set on the socket before each phase, which is still per read.

So a :class:`Watchdog` (one daemon thread per transport, started on first use, gone
after a quiet minute) keeps the deadlines of the attempts in flight. The transport's
connections report their socket to the attempt's :class:`Deadline` (see
:class:`DeadlineAdapter`); when the deadline passes, the watchdog shuts that socket
down, the read blocked in the sending thread returns at once, and the transport
reports :class:`~task_runner.http.faults.DeadlineExceeded`.

Example::

    watchdog = Watchdog()
    with watchdog.deadline(300.0) as deadline:
        resp = session.get(url, stream=True)   # connect, headers...
        body = resp.content                    # ...and body, all within 300 s
    deadline.expired                           # True if the watchdog cut it off
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Deadline", "DeadlineAdapter", "Watchdog"]

#: A watchdog thread with nothing to watch for this long ends (a new one starts on demand).
IDLE_SECONDS = 60.0

_current = threading.local()


class Deadline:
    """The deadline of one attempt, and the socket it is reading from."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._sock: Any = None
        self._lock = threading.Lock()

    def attach(self, sock: Any) -> None:
        """The attempt now reads from ``sock``: cut it off at the deadline."""
        with self._lock:
            self._sock = sock
            if self.expired:
                _sever(sock)

    def detach(self) -> None:
        """The attempt is done with its socket (which may go back to the pool)."""
        with self._lock:
            self._sock = None

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            if self._sock is not None:
                _sever(self._sock)

    def finish(self) -> None:
        """The attempt is over: never touch its socket again."""
        with self._lock:
            self._done = True
            self._sock = None


def _sever(sock: Any) -> None:
    """Shut the socket down under the reader's feet; it sees the end of the stream.

    ``shutdown(2)``, not ``close()``: closing a descriptor another thread is blocked on
    is unsafe (the number may be reused at once). The plain-socket method is called
    even on an ``SSLSocket``, so the TLS object the reader is inside stays untouched.
    """
    raw = getattr(sock, "socket", sock)  # urllib3's SSLTransport (TLS in a TLS proxy)
    if isinstance(raw, socket.socket):
        with contextlib.suppress(OSError):
            socket.socket.shutdown(raw, socket.SHUT_RDWR)


class Watchdog:
    """Expires deadlines on time, from one thread shared by a transport."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: set[Deadline] = set()
        self._thread: threading.Thread | None = None
        self._wakes_at = float("inf")
        self._closed = False

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[Deadline]:
        """Watch the attempt run in this block: connections opened or used in it, in
        this thread, are cut off ``seconds`` from now."""
        deadline = Deadline(seconds)
        with self._cond:
            self._pending.add(deadline)
            # is_alive: a thread does not survive a fork (a prefork worker, say).
            if (self._thread is None or not self._thread.is_alive()) and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="task-runner-watchdog", daemon=True
                )
                self._thread.start()
            elif deadline.at < self._wakes_at:
                self._cond.notify()
        outer = getattr(_current, "deadline", None)
        _current.deadline = deadline
        try:
            yield deadline
        finally:
            _current.deadline = outer
            with self._cond:
                self._pending.discard(deadline)
            deadline.finish()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                for deadline in [d for d in self._pending if d.at <= now]:
                    self._pending.discard(deadline)
                    deadline.expire()
                if not self._pending:
                    self._wakes_at = now + IDLE_SECONDS
                    if not self._cond.wait(IDLE_SECONDS) and not self._pending:
                        break
                    continue
                self._wakes_at = min(d.at for d in self._pending)
                self._cond.wait(self._wakes_at - now)
            self._thread = None
            self._wakes_at = float("inf")


def _attach(conn: HTTPConnection) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and conn.sock is not None:
        deadline.attach(conn.sock)


class _WatchedHTTPConnection(HTTPConnection):
    """Reports its socket to the current thread's deadline: after connecting (a new
    connection) and before reading the response (a pooled one)."""

    def connect(self) -> None:
        super().connect()
        _attach(self)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _attach(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    """:class:`_WatchedHTTPConnection` for TLS."""

    def connect(self) -> None:
        super().connect()
        _attach(self)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _attach(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections (direct or through an HTTP proxy) report
    their sockets to the attempt's :class:`Deadline`.

    urllib3's seams for this: a pool's ``ConnectionCls`` and a pool manager's
    ``pool_classes_by_scheme``. A SOCKS proxy (``requests[socks]``) keeps its own
    connection classes, so there only the read timeout bounds a request.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager
