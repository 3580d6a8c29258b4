"""The emulator's file host: the bytes behind the image objects' ``url`` fields.

Procore serves an image's file from a storage host, not from the API's origin (and
without the API's bearer token: the URL itself grants access). The emulator does the
same on a second origin (``files_host``, default ``localhost``, its own port), so that
a workflow must list that host in its connection's ``allowed_hosts`` and the runner
must not send the connection's credentials there.

``GET /images/{id}/{original|medium|thumbnail}/{filename}`` answers deterministic JPEG
bytes (a few KiB: stand-ins, not the ``size`` the image object reports) with
``Content-Type: image/jpeg`` and ``Content-Length``; an unknown id answers 404. Every
request's headers are kept in :attr:`FileHost.requests` (tests check what was sent).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FileHost", "file_bytes"]

_PATH = re.compile(r"^/images/(\d+)/(original|medium|thumbnail)/([A-Za-z0-9_.-]+)$")
_SIZES = {"original": 24_000, "medium": 8_000, "thumbnail": 2_000}


def file_bytes(image_id: int, variant: str = "original", seed: int = 0) -> bytes:
    """The bytes the file host serves for an image: a JPEG start-of-image marker, then
    a deterministic stream (SHA-256 in counter mode) of a size that varies by image."""
    size = _SIZES.get(variant, 2_000) + (image_id * 7919) % 4096
    out = bytearray(b"\xff\xd8\xff\xe0")
    counter = 0
    while len(out) < size - 2:
        out += hashlib.sha256(f"{seed}:{image_id}:{variant}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[: size - 2]) + b"\xff\xd9"


class FileHost:
    """A second HTTP server for the emulator's image files."""

    def __init__(
        self, emulator: Any, host: str = "127.0.0.1", public_host: str = "localhost"
    ) -> None:
        self.emulator = emulator
        self.bind_host = host
        self.public_host = public_host
        self.port = 0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.public_host}:{self.port}"

    def start(self) -> FileHost:
        handler = type("BoundFileHandler", (_FileHandler,), {"host": self})
        server = _QuietServer((self.bind_host, 0), handler)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"procore-emulator-files-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def log(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append({"path": path, "headers": headers})

    def known(self, image_id: int) -> bool:
        data = self.emulator.data
        return any(a.id == image_id for pid in data.projects for a in data.iter_attrs(pid))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer (a killed run) is not the server's fault


class _FileHandler(BaseHTTPRequestHandler):
    host: FileHost
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read FileHost.requests; stderr stays quiet

    def do_GET(self) -> None:
        self.host.log(self.path, {k: v for k, v in self.headers.items()})
        latency = getattr(self.host.emulator, "latency", 0.0)
        if latency:
            time.sleep(latency)
        match = _PATH.match(self.path.split("?", 1)[0])
        if match is None or not self.host.known(int(match[1])):
            self._reply(404, b"Not Found", "text/plain")
            return
        body = file_bytes(int(match[1]), match[2], self.host.emulator.seed)
        self._reply(200, body, "image/jpeg")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
