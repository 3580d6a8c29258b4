"""The emulator's file host: the bytes behind the image objects' ``url`` fields.

Procore serves an image's file from a storage host, not from the API's origin (and
without the API's bearer token: the URL itself grants access). The emulator does the
same on a second origin (``files_host``, default ``localhost``, on the API's port: the
API answers as ``127.0.0.1``), so that a workflow must list that host in its
connection's ``allowed_hosts`` and the runner must not send the connection's
credentials there.

``GET /images/{id}/{original|medium|thumbnail}/{filename}`` answers deterministic JPEG
bytes (a few KiB, exactly the ``size`` the image object reports) with
``Content-Type: image/jpeg`` and ``Content-Length``; an unknown id answers 404. Every
request's headers are kept in :attr:`FileHost.requests` (tests check what was sent).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

__all__ = ["FileHost", "file_bytes", "file_size"]

_PATH = re.compile(r"^/images/(\d+)/(original|medium|thumbnail)/([A-Za-z0-9_.-]+)$")
_SIZES = {"original": 24_000, "medium": 8_000, "thumbnail": 2_000}


def file_size(image_id: int, variant: str = "original") -> int:
    """How many bytes the file host serves for an image (the listing's ``size`` is the
    ``original``'s): a few KiB that vary by image, so tests stay fast."""
    return _SIZES.get(variant, 2_000) + (image_id * 7919) % 4096


def file_bytes(image_id: int, variant: str = "original", seed: int = 0) -> bytes:
    """The bytes the file host serves for an image: a JPEG start-of-image marker, then
    a deterministic stream (SHA-256 in counter mode), :func:`file_size` bytes long."""
    size = file_size(image_id, variant)
    out = bytearray(b"\xff\xd8\xff\xe0")
    counter = 0
    while len(out) < size - 2:
        out += hashlib.sha256(f"{seed}:{image_id}:{variant}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[: size - 2]) + b"\xff\xd9"


class FileHost:
    """The emulator's second origin for image files: the same server and port as the API,
    reached by another host name (``public_host``, default ``localhost``; the API is
    ``127.0.0.1``), so its URLs are those of the API with the host name changed.

    One port for both means a recording made against one emulator instance can be
    pointed at the next one by changing the port alone
    (:func:`task_runner.recording.session.rebase_emulated`): a file URL never names a
    second port that is gone once the emulator that served it stopped.
    """

    def __init__(self, emulator: Any, public_host: str = "localhost") -> None:
        self.emulator = emulator
        self.public_host = public_host
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.emulator.port)

    @property
    def origin(self) -> str:
        return f"http://{self.public_host}:{self.port}"

    def serves(self, host_header: str) -> bool:
        """Whether a request's ``Host`` header names this origin (not the API's)."""
        name = host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header
        return name.strip().lower() == self.public_host.lower()

    def log(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append({"path": path, "headers": headers})

    def known(self, image_id: int) -> bool:
        data = self.emulator.data
        return any(a.id == image_id for pid in data.projects for a in data.iter_attrs(pid))

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one GET (or 405 for another method) on ``handler``'s connection."""
        self.log(handler.path, {k: v for k, v in handler.headers.items()})
        latency = getattr(self.emulator, "latency", 0.0)
        if latency:
            time.sleep(latency)
        match = _PATH.match(handler.path.split("?", 1)[0])
        if handler.command != "GET":
            _reply(handler, 405, b"Method Not Allowed", "text/plain")
        elif match is None or not self.known(int(match[1])):
            _reply(handler, 404, b"Not Found", "text/plain")
        else:
            body = file_bytes(int(match[1]), match[2], self.emulator.seed)
            _reply(handler, 200, body, "image/jpeg")


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
