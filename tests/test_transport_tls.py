"""TLS through the transport: verified by default, a private CA by path, reuse over TLS.

A throw-away CA and a server certificate for 127.0.0.1 are made with the ``openssl``
command (skipped where it is missing); the server is a real HTTPS server on loopback.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from task_runner.errors import TransportError
from task_runner.http.transport import RequestsTransport
from task_runner.model import Timeout

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ca.pem`` and ``server.pem``/``server.key`` (SAN IP:127.0.0.1) in a folder."""
    folder = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=task-runner test CA", "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr", cwd=folder,
    )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem",
        cwd=folder,
    )  # fmt: skip
    return folder


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.ports.append(self.client_address[1])
        body = json.dumps([{"id": 1}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, certs: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs / "server.pem", certs / "server.key")
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.lock = threading.Lock()
        self.ports: list[int] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refuses our certificate hangs up mid-handshake


@pytest.fixture()
def https(certs: Path) -> Iterator[tuple[str, _TLSServer]]:
    server = _TLSServer(certs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


def _get(transport: RequestsTransport, url: str) -> Any:
    try:
        return transport.send("GET", url + "/items", timeout=Timeout(5, 5, 10))
    finally:
        transport.close()


def test_an_unknown_ca_is_refused_by_default(https: tuple[str, _TLSServer]) -> None:
    url, _ = https
    with pytest.raises(TransportError, match="TLS verification failed") as caught:
        _get(RequestsTransport(), url)
    assert "CA bundle" in (caught.value.hint or "")


def test_a_private_ca_by_path_is_trusted(https: tuple[str, _TLSServer], certs: Path) -> None:
    url, _ = https
    raw = _get(RequestsTransport(verify=str(certs / "ca.pem")), url)
    assert raw.status == 200 and raw.json() == [{"id": 1}]


def test_the_ca_bundle_from_the_environment_is_used(
    https: tuple[str, _TLSServer], certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = https
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs / "ca.pem"))
    assert _get(RequestsTransport(), url).status == 200


def test_verify_false_skips_the_check(https: tuple[str, _TLSServer]) -> None:
    url, _ = https
    assert _get(RequestsTransport(verify=False), url).status == 200


def test_one_tls_connection_serves_many_requests(
    https: tuple[str, _TLSServer], certs: Path
) -> None:
    url, server = https
    transport = RequestsTransport(verify=str(certs / "ca.pem"), pool_size=1)
    try:
        for _ in range(5):
            assert transport.send("GET", url + "/items", timeout=Timeout(5, 5, 10)).status == 200
    finally:
        transport.close()
    assert len(server.ports) == 5 and len(set(server.ports)) == 1
