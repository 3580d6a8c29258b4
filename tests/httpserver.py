"""A small threaded HTTP server on 127.0.0.1:0 whose behaviour each test scripts.

Tests describe answers as :class:`Reply` values: status, headers, a body (bytes, text
or JSON), a server-side delay, a reset connection (RST, no answer) or a truncated body
(``Content-Length`` promises more than is sent). Answers come from a per-path queue
(:meth:`TestServer.script`) and then from a handler function; every request is recorded.

Example::

    with TestServer(paged(list(range(95)), mode="link")) as server:
        server.script(Reply(503, headers={"Retry-After": "2"}), path="/items")
        requests.get(server.url + "/items?page=1&per_page=10")
        server.requests[0].headers["User-Agent"]
"""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["Recorded", "Reply", "TestServer", "json_reply", "paged"]


@dataclass
class Reply:
    """One scripted answer. ``body``: bytes, str, or anything JSON (sent as JSON)."""

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    truncate: int | None = None

    def payload(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            data = self.body
        elif isinstance(self.body, str):
            data = self.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json")
        return data, headers


def json_reply(body: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


@dataclass
class Recorded:
    """A request as the server saw it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    base_url: str
    client_port: int = 0

    def param(self, name: str, default: str | None = None) -> str | None:
        return dict(self.query).get(name, default)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


Handler = Callable[[Recorded], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: TestServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and truncations are on purpose; keep test output clean


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
            base_url=owner.url,
            client_port=self.client_address[1],
        )
        reply = owner.answer(recorded)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.reset:
            self._reset()
            return
        data, headers = reply.payload()
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if reply.truncate is not None:
            self.wfile.write(data[: reply.truncate])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class TestServer:
    """A scripted HTTP server for one test; use as a context manager."""

    __test__ = False  # not a pytest test class

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler or (lambda req: Reply(404, {"error": "no handler"}))
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._scripts: dict[str | None, deque[Reply]] = defaultdict(deque)
        self._routes: dict[str, Handler] = {}
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def script(self, *replies: Reply, path: str | None = None) -> None:
        """Queue answers for ``path`` (or any path), served before the handler's."""
        with self._lock:
            self._scripts[path].extend(replies)

    def route(self, path: str, handler: Handler) -> None:
        self._routes[path] = handler

    def answer(self, req: Recorded) -> Reply:
        with self._lock:
            self.requests.append(req)
            for key in (req.path, None):
                if self._scripts[key]:
                    return self._scripts[key].popleft()
        return self._routes.get(req.path, self.handler)(req)

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> TestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def paged(
    items: Sequence[Any],
    *,
    mode: str = "total",
    default_per_page: int = 10,
    faults: Mapping[int, Sequence[Reply]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Handler:
    """A paginated listing: ``mode`` ``total`` (Total, Per-Page and Link), ``link``
    (Link only) or ``none`` (no pagination headers). ``faults[n]`` are answered, one
    per request, before page ``n`` is served normally."""
    pending = {page: deque(replies) for page, replies in (faults or {}).items()}
    lock = threading.Lock()

    def handle(req: Recorded) -> Reply:
        page = int(req.param("page") or 1)
        per_page = int(req.param("per_page") or default_per_page)
        with lock:
            queue = pending.get(page)
            if queue:
                return queue.popleft()
        chunk = list(items[(page - 1) * per_page : page * per_page])
        out = dict(headers or {})
        last = max(1, math.ceil(len(items) / per_page))
        if mode in ("total", "link"):
            out["Link"] = _links(req, page, last)
        if mode == "total":
            out["Total"] = str(len(items))
            out["Per-Page"] = str(per_page)
        return Reply(200, chunk, out)

    return handle


def _links(req: Recorded, page: int, last: int) -> str:
    def url(n: int) -> str:
        query = [(k, v) for k, v in req.query if k != "page"] + [("page", str(n))]
        return f"{req.base_url}{req.path}?{urlencode(query)}"

    rels = [("first", 1), ("last", last)]
    if page > 1:
        rels.append(("prev", page - 1))
    if page < last:
        rels.append(("next", page + 1))
    return ", ".join(f'<{url(n)}>; rel="{rel}"' for rel, n in rels)
