"""A fast local listing server for the benchmarks: ``GET /items?page=N&per_page=M``.

Items are generated on the fly (nothing held in memory), every page carries ``Total``
and ``Per-Page`` like Procore's listings, and an optional per-request latency stands in
for a remote API. HTTP/1.1 keep-alive, so clients reuse connections as they would in
production.

Example::

    with ItemServer(total=2_000, latency=0.05) as server:
        requests.get(server.url + "/items", params={"page": 1, "per_page": 100}).json()
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["ItemServer", "make_item"]


def make_item(number: int) -> dict[str, Any]:
    """An image-like record of a few hundred bytes, as a listing API returns them."""
    return {
        "id": number,
        "name": f"IMG_{number:07d}.jpg",
        "description": "Level 2 east wall, after the pour",
        "created_at": "2024-05-01T12:00:00Z",
        "updated_at": "2024-05-02T08:30:00Z",
        "url": f"https://storage.example.com/images/{number}/original.jpg",
        "thumbnail_url": f"https://storage.example.com/images/{number}/thumb.jpg",
        "width": 4032,
        "height": 3024,
        "uploader": {"id": 42, "name": "Site Camera"},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the benchmarks print their own table

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        page = max(1, int(query.get("page", "1")))
        per_page = max(1, int(query.get("per_page", "100")))
        total = self.server.total
        first = (page - 1) * per_page
        items = [make_item(n) for n in range(first + 1, min(total, first + per_page) + 1)]
        body = json.dumps(items).encode()
        if self.server.latency:
            self.server.wait.wait(self.server.latency)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Total", str(total))
        self.send_header("Per-Page", str(per_page))
        # Like Procore: a Link header on every page, with no rel="next" on the last one
        # (which tells a client that a full last page is the end).
        last = max(1, -(-total // per_page))
        rels = {"first": 1, "last": last, **({"next": page + 1} if page < last else {})}
        self.send_header(
            "Link",
            ", ".join(
                f'<{parts.path}?per_page={per_page}&page={n}>; rel="{rel}"'
                for rel, n in rels.items()
            ),
        )
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    total = 0
    latency = 0.0
    wait = threading.Event()  # never set: an interruptible sleep


class ItemServer:
    """Serve ``total`` items on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, total: int, latency: float = 0.0) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.total = total
        self._server.latency = latency
        self._server.wait = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> ItemServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
