"""The emulator's lifecycle and Python API: a local Procore on a real loopback socket.

Example::

    with Emulator(seed=1, images=250, faults="503:retry-after=1@2") as em:
        token = requests.post(em.token_url, data={
            "grant_type": "client_credentials",
            "client_id": em.client_id, "client_secret": em.client_secret,
        }).json()["access_token"]
        page = requests.get(f"{em.base_url}/rest/v1.0/images",
                            params={"project_id": 777},
                            headers={"Authorization": f"Bearer {token}",
                                     "Procore-Company-Id": str(em.company_id)})
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from task_runner.emulator.data import (
    MAIN_COMPANY_ID,
    MAIN_PROJECT_ID,
    Dataset,
)
from task_runner.emulator.faults import FaultSpec, parse_faults
from task_runner.emulator.files import FileHost
from task_runner.emulator.handler import EmulatorHandler, _json_error, _Reply
from task_runner.emulator.images import serialize
from task_runner.emulator.oauth import TokenStore
from task_runner.emulator.ratelimit import RateLimiter
from task_runner.emulator.stats import RequestRecord, Stats
from task_runner.errors import UsageError

__all__ = [
    "EMULATOR_CLIENT_ID",
    "EMULATOR_CLIENT_SECRET",
    "PAGINATION_MODES",
    "Emulator",
]

#: Public fixtures, not secrets: anyone may use them against a local emulator.
EMULATOR_CLIENT_ID = "emulator-client-id"
EMULATOR_CLIENT_SECRET = "emulator-client-secret"
#: total/both: Total + Per-Page + Link; link: only Link (with rel=last);
#: next-only: only Link without rel=last (a client must walk rel=next).
PAGINATION_MODES = ("both", "total", "link", "next-only")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.open_sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        with self._sockets_lock:
            self.open_sockets.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self._sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_sockets(self) -> None:
        with self._sockets_lock:
            socks = list(self.open_sockets)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Emulator:
    """A threaded local Procore; start on port 0 and read :attr:`base_url`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        images: int = 250,
        faults: str | FaultSpec | None = None,
        token_ttl: int = 5400,
        hourly_limit: int = 3600,
        spike_limit: int | None = None,
        spike_window: float = 10.0,
        pagination_headers: str = "both",
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        rate_limit_headers: bool = True,
        retry_after: bool = True,
        client_id: str = EMULATOR_CLIENT_ID,
        client_secret: str = EMULATOR_CLIENT_SECRET,
        dataset_end: float | None = None,
        serve_files: bool = False,
    ) -> None:
        if pagination_headers not in PAGINATION_MODES:
            raise UsageError(
                f"pagination headers {pagination_headers!r} is not one of {', '.join(PAGINATION_MODES)}"
            )
        self.host, self.port, self.seed = host, port, seed
        self.clock = clock
        self.data = Dataset(
            seed=seed, images=images, end=None if dataset_end is None else int(dataset_end)
        )
        self.faults = parse_faults(faults)
        self.tokens = TokenStore(client_id, client_secret, token_ttl, clock)
        self.limiter = RateLimiter(hourly_limit, spike_limit, spike_window, clock)
        self.stats = Stats()
        self.pagination_headers = pagination_headers
        self.latency = latency
        self.rate_limit_headers = rate_limit_headers
        self.retry_after = retry_after
        self.client_id, self.client_secret = client_id, client_secret
        self.company_id = MAIN_COMPANY_ID
        self.project_id = MAIN_PROJECT_ID
        self._index_lock = threading.Lock()
        self._counters: dict[str, int] = {}  # fault request numbers per target
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # serve_files: a second origin (another host name, the same port) serves the
        # image files, and the image objects' urls point at it
        self.serve_files = serve_files
        self.files: FileHost | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> Emulator:
        handler = type("BoundEmulatorHandler", (EmulatorHandler,), {"emulator": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        if self.serve_files:
            # the same port, another host name: see FileHost
            public = "127.0.0.1" if self.host == "localhost" else "localhost"
            self.files = FileHost(self, public_host=public)
            self.data.files_origin = self.files.origin
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"procore-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_open_sockets()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`serve_until_stopped` to return (safe in a signal handler)."""
        self._stopping.set()

    def serve_until_stopped(self) -> None:
        """Block until :meth:`stop` (the CLI's main loop)."""
        while not self._stopping.wait(0.5):
            pass

    # --- addresses and credentials ----------------------------------------------------

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host_port}"

    @property
    def files_origin(self) -> str:
        """The origin of the image files (``url`` of the image objects): another host."""
        return self.data.files_origin

    @property
    def files_host(self) -> str:
        """The file host's name, for a connection's ``allowed_hosts``."""
        return self.files.public_host if self.files is not None else "localhost"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def project_ids(self) -> list[int]:
        """Projects of :attr:`company_id` (777 first); see :attr:`foreign_project_id`."""
        return [p.id for p in self.data.projects.values() if p.company_id == self.company_id]

    @property
    def foreign_project_id(self) -> int:
        """A project of a company the app is not connected to: 403."""
        return next(p.id for p in self.data.projects.values() if p.company_id != self.company_id)

    def env(self) -> dict[str, str]:
        """The variables that point the runner's Procore connection here."""
        return {
            "PROCORE_BASE_URL": self.base_url,
            "PROCORE_TOKEN_URL": self.token_url,
            "PROCORE_CLIENT_ID": self.client_id,
            "PROCORE_CLIENT_SECRET": self.client_secret,
        }

    # --- test controls ----------------------------------------------------------------

    def issue_refresh_token(self) -> str:
        """A fresh refresh token, as the authorization-code flow would have left it."""
        return self.tokens.issue_refresh_token()

    def set_faults(self, spec: str | FaultSpec | None) -> None:
        """Replace the fault rules; request numbering restarts at 1."""
        parsed = parse_faults(spec)
        with self._index_lock:
            self.faults = parsed
            self._counters.clear()

    def expire_tokens(self) -> int:
        """Expire every access token issued so far; returns how many."""
        return self.tokens.expire()

    def images_for(self, project_id: int = MAIN_PROJECT_ID, view: str = "normal") -> list[Any]:
        """Every image of a project as the API serializes it, in id order."""
        return serialize(self.data, self.data.iter_attrs(project_id), view)

    def touch_images(self, n: int, project_id: int = MAIN_PROJECT_ID) -> list[int]:
        """Set ``updated_at`` of ``n`` images to the emulator clock's now; returns their ids."""
        return self.data.touch(project_id, n, self.clock())

    def add_images(self, n: int, project_id: int = MAIN_PROJECT_ID) -> list[int]:
        """Create ``n`` new images at the clock's now; returns their ids."""
        return self.data.add(project_id, n, self.clock())

    @property
    def request_log(self) -> list[RequestRecord]:
        return self.stats.request_log

    def max_requests_in_window(self, seconds: float, **kwargs: Any) -> int:
        return self.stats.max_requests_in_window(seconds, **kwargs)

    # --- used by the handler ----------------------------------------------------------

    def _next_index(self, target: str = "images") -> int:
        with self._index_lock:
            self._counters[target] = self._counters.get(target, 0) + 1
            return self._counters[target]

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _access_error(self, company: str, project_text: str) -> _Reply | None:
        """400/403/404 for a company or project this caller cannot reach."""
        try:
            company_id, project_id = int(company), int(project_text)
        except ValueError:
            return _json_error(400, "Procore-Company-Id and project_id must be integers")
        known = self.data.companies.get(company_id)
        if known is None:
            return _json_error(404, "Company not found")
        if not known.connected:
            return _json_error(403, "App is not connected to this company")
        project = self.data.projects.get(project_id)
        if project is None:
            return _json_error(404, "Project not found")
        if project.company_id != company_id:
            return _json_error(403, "App is not connected to this company")
        return None
