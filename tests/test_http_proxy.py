"""Proxies and CA bundles come from the environment, read once per connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from task_runner.http.transport import RequestsTransport
from task_runner.model import Timeout


class _Proxy(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # a forward proxy receives the absolute URL
        type(self).seen.append(self.path)
        body = b'{"via": "proxy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_proxy_from_the_environment_is_used(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    transport = RequestsTransport()
    raw = transport.send(
        "GET", "http://api.example.invalid/rest/v1.0/images", timeout=Timeout(2, 2)
    )
    assert raw.json() == {"via": "proxy"}
    assert _Proxy.seen == ["http://api.example.invalid/rest/v1.0/images"]


def test_no_proxy_is_honoured(proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    transport = RequestsTransport()
    raw = transport.send("GET", proxy + "/direct", timeout=Timeout(2, 2))
    assert raw.status == 200 and _Proxy.seen == ["/direct"]  # reached directly, not proxied


def test_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert RequestsTransport().session.verify == str(bundle)
    assert RequestsTransport(verify="/explicit.pem").session.verify == "/explicit.pem"
    assert RequestsTransport(verify=False).session.verify is False
