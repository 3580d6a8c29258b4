"""A fast local Procore-style listing server for the benchmarks.

``GET /items?page=N&per_page=M`` answers a JSON array of image-like records of about
600 bytes each (the size of a Procore image record), with ``Total``, ``Per-Page`` and
``Link`` headers like Procore's listings and Procore's rate-limit headers
(``X-Rate-Limit-Limit``/``-Remaining``/``-Reset``). With ``oauth=True``,
``POST /oauth/token`` hands out a client-credentials token and every listing request
must carry it as ``Authorization: Bearer``. An optional per-request latency stands in
for a remote API. HTTP/1.1 keep-alive, so clients reuse connections as they would in
production. Page bodies are encoded once and cached, so the server spends as little
CPU as possible: the two cores of a small machine belong to the clients measured.

Example::

    with ItemServer(total=2_000, latency=0.05) as server:
        requests.get(server.url + "/items", params={"page": 1, "per_page": 100}).json()
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "TOKEN", "ItemServer", "make_item"]

#: The client credentials the server accepts, and the token it hands out for them.
CLIENT_ID = "bench-client-id-0001"
CLIENT_SECRET = "bench-client-secret-0123456789"
TOKEN = "bench-access-token-abcdef0123456789"
#: Bodies kept encoded; a long run past this many pages starts the cache afresh.
CACHE_PAGES = 4096


def make_item(number: int) -> dict[str, Any]:
    """An image-like record of about 600 bytes as JSON, as Procore's listing returns."""
    return {
        "id": number,
        "name": f"IMG_{number:07d}.jpg",
        "description": "Level 2 east wall, after the pour",
        "created_at": "2024-05-01T12:00:00Z",
        "updated_at": "2024-05-02T08:30:00Z",
        "taken_at": "2024-05-01T11:58:41Z",
        "url": f"https://storage.example.com/images/{number}/original.jpg",
        "thumbnail_url": f"https://storage.example.com/images/{number}/thumb.jpg",
        "content_type": "image/jpeg",
        "size": 2_391_234 + number % 1000,
        "width": 4032,
        "height": 3024,
        "private": False,
        "location": {"id": 1187, "name": "Building A > Level 2 > East"},
        "image_category": {"id": 18, "name": "Daily Log"},
        "uploader": {"id": 42, "name": "Site Camera"},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the benchmarks print their own table

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode()))
        if urlsplit(self.path).path != "/oauth/token":
            self._answer(404, b'{"error":"not found"}')
        elif (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            self._answer(401, b'{"error":"invalid_client"}')
        else:
            token = {"access_token": TOKEN, "token_type": "bearer", "expires_in": 7200}
            self._answer(200, json.dumps(token).encode())

    def do_GET(self) -> None:
        server = self.server
        if server.oauth and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, b'{"error":"invalid_token"}')
            return
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        page = max(1, int(query.get("page", "1")))
        per_page = max(1, int(query.get("per_page", "100")))
        body = server.body(page, per_page)
        if server.latency:
            server.wait.wait(server.latency)
        total = server.total
        # Like Procore: a Link header on every page, with no rel="next" on the last one
        # (which tells a client that a full last page is the end).
        last = max(1, -(-total // per_page))
        rels = {"first": 1, "last": last, **({"next": page + 1} if page < last else {})}
        link = ", ".join(
            f'<{parts.path}?per_page={per_page}&page={n}>; rel="{rel}"' for rel, n in rels.items()
        )
        self._answer(
            200,
            body,
            {
                "Total": str(total),
                "Per-Page": str(per_page),
                "Link": link,
                "X-Rate-Limit-Limit": "3600",
                "X-Rate-Limit-Remaining": str(server.remaining()),
                "X-Rate-Limit-Reset": str(server.reset),
            },
        )

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a client that opens ten
    # connections at once, and each dropped one costs a 1 s retransmit.
    request_queue_size = 128
    total = 0
    latency = 0.0
    oauth = False
    reset = 0
    wait = threading.Event()  # never set: an interruptible sleep

    def setup_budget(self) -> None:
        self._lock = threading.Lock()
        self._served = 0
        self._cache: dict[tuple[int, int], bytes] = {}
        self.reset = int(time.time()) + 3600

    def remaining(self) -> int:
        """A generous hourly budget, counted down per listing request like Procore's."""
        with self._lock:
            self._served += 1
            return max(0, 1_000_000 - self._served)

    def body(self, page: int, per_page: int) -> bytes:
        key = (page, per_page)
        body = self._cache.get(key)
        if body is None:
            first = (page - 1) * per_page
            last = min(self.total, first + per_page)
            body = json.dumps([make_item(n) for n in range(first + 1, last + 1)]).encode()
            if len(self._cache) >= CACHE_PAGES:
                self._cache.clear()
            self._cache[key] = body
        return body


class ItemServer:
    """Serve ``total`` items on 127.0.0.1 (a free port) in a background thread.

    ``latency``: seconds each listing response waits before it is sent; ``oauth``: the
    listing requires the token from ``POST /oauth/token`` (client credentials
    :data:`CLIENT_ID` / :data:`CLIENT_SECRET`).
    """

    def __init__(self, total: int, latency: float = 0.0, *, oauth: bool = False) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.total = total
        self._server.latency = latency
        self._server.oauth = oauth
        self._server.wait = threading.Event()
        self._server.setup_budget()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def warm(self, per_page: int) -> None:
        """Encode every page now, so no contender pays for the server's first encoding."""
        for page in range(1, max(1, -(-self._server.total // per_page)) + 1):
            self._server.body(page, per_page)

    def __enter__(self) -> ItemServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ChildItemServer:
    """:class:`ItemServer` in a child process, so that the CPU time measured in this
    process is the client's alone: ``with ChildItemServer(1000) as url: ...``."""

    def __init__(self, total: int, latency: float = 0.0, *, oauth: bool = False) -> None:
        self.args = [str(total), str(latency), "oauth" if oauth else "open"]

    def __enter__(self) -> str:
        import subprocess
        import sys
        from pathlib import Path

        root = str(Path(__file__).resolve().parent.parent)
        self._child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server", *self.args],
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        assert self._child.stdout is not None
        return self._child.stdout.readline().strip()

    def __exit__(self, *exc: object) -> None:
        self._child.terminate()
        self._child.wait(timeout=10)


if __name__ == "__main__":  # the child of ChildItemServer: print the URL, serve until killed
    import sys

    with ItemServer(int(sys.argv[1]), float(sys.argv[2]), oauth=sys.argv[3] == "oauth") as it:
        it.warm(100)
        print(it.url, flush=True)
        threading.Event().wait()
