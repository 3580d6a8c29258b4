"""The transport against real loopback servers: headers, bodies, faults, redirects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

import task_runner
from task_runner.errors import TransportError
from task_runner.http.faults import (
    BodyTooLargeError,
    ConnectionFault,
    InvalidBodyError,
    RedirectRefusedError,
)
from task_runner.http.transport import RequestsTransport, parse_links, safe_url
from task_runner.model import Timeout
from tests.httpserver import Reply, TestServer

FAST = Timeout(connect=2.0, read=2.0)


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(lambda req: Reply(200, {"ok": True})) as srv:
        yield srv


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    t = RequestsTransport(pool_size=2)
    yield t
    t.close()


def test_sends_user_agent_query_and_json(server: TestServer, transport: RequestsTransport) -> None:
    raw = transport.send(
        "POST",
        server.url + "/things",
        params=[("filters[ids][]", "1"), ("filters[ids][]", "2")],
        json={"a": 1},
        timeout=FAST,
    )
    assert raw.status == 200 and raw.json() == {"ok": True}
    seen = server.requests[0]
    assert seen.header("User-Agent") == f"task-runner/{task_runner.__version__}"
    assert seen.query == [("filters[ids][]", "1"), ("filters[ids][]", "2")]
    assert seen.body == b'{"a": 1}'


def test_headers_are_case_insensitive(server: TestServer, transport: RequestsTransport) -> None:
    server.script(Reply(200, b"x", {"X-Rate-Limit-Remaining": "7"}))
    raw = transport.send("GET", server.url, timeout=FAST)
    assert raw.headers["x-rate-limit-remaining"] == "7"


def test_keep_alive_reuses_one_connection(server: TestServer, transport: RequestsTransport) -> None:
    for _ in range(5):
        assert transport.send("GET", server.url, timeout=FAST).status == 200
    assert len({r.client_port for r in server.requests}) == 1


def test_body_over_cap_declared_length(server: TestServer, transport: RequestsTransport) -> None:
    server.script(Reply(200, b"x" * 5000))
    with pytest.raises(BodyTooLargeError, match="max_body_bytes cap of 1000 bytes"):
        transport.send("GET", server.url, timeout=FAST, max_body_bytes=1000)


def test_body_over_cap_while_streaming(transport: RequestsTransport) -> None:
    """No Content-Length (chunked): the cap is enforced while reading."""

    with _ChunkedServer(200_000) as chunked:
        with pytest.raises(BodyTooLargeError, match="stopped reading"):
            transport.send("GET", chunked.url, timeout=FAST, max_body_bytes=100_000)


def test_body_within_cap(server: TestServer, transport: RequestsTransport) -> None:
    server.script(Reply(200, b"x" * 1000))
    assert len(transport.send("GET", server.url, timeout=FAST, max_body_bytes=1000).content) == 1000


def test_truncated_body_is_a_retryable_fault(
    server: TestServer, transport: RequestsTransport
) -> None:
    server.script(Reply(200, b"[" + b"1," * 500 + b"1]", truncate=100))
    with pytest.raises(ConnectionFault, match=r"cut off|broke") as info:
        transport.send("GET", server.url, timeout=FAST)
    assert info.value.retryable


def test_reset_connection_is_a_retryable_fault(
    server: TestServer, transport: RequestsTransport
) -> None:
    server.script(Reply(reset=True))
    with pytest.raises(ConnectionFault, match="connection"):
        transport.send("GET", server.url, timeout=FAST)
    # the pool recovers: the next request works
    assert transport.send("GET", server.url, timeout=FAST).status == 200


def test_read_timeout_is_a_retryable_fault(
    server: TestServer, transport: RequestsTransport
) -> None:
    server.script(Reply(200, b"late", delay=0.5))
    with pytest.raises(ConnectionFault, match=r"read timeout after 0\.1s"):
        transport.send("GET", server.url, timeout=Timeout(connect=1.0, read=0.1))


def test_refused_connection_is_a_retryable_fault(transport: RequestsTransport) -> None:
    srv = TestServer()
    url = srv.url
    srv._server.server_close()  # the port is closed: connection refused
    with pytest.raises(ConnectionFault):
        transport.send("GET", url, timeout=FAST)


def test_messages_name_the_url_without_credentials_or_query(transport: RequestsTransport) -> None:
    assert safe_url("https://bot:pw-9931@api.example.com:8443/a/b?token=t-77") == (
        "https://api.example.com:8443/a/b"
    )
    srv = TestServer()
    host = srv.url.split("://", 1)[1]
    srv._server.server_close()
    with pytest.raises(ConnectionFault) as caught:
        transport.send("GET", f"http://bot:pw-9931@{host}/items?token=t-77", timeout=FAST)
    assert f"GET http://{host}/items: connection failed" in str(caught.value)
    assert "pw-9931" not in str(caught.value) and "t-77" not in str(caught.value)


def test_invalid_json_names_the_url(server: TestServer, transport: RequestsTransport) -> None:
    server.script(Reply(200, b'{"broken', {"Content-Type": "application/json"}))
    raw = transport.send("GET", server.url + "/list", timeout=FAST)
    with pytest.raises(InvalidBodyError, match="/list is not valid JSON"):
        raw.json()


def test_same_host_redirect_keeps_authorization(
    server: TestServer, transport: RequestsTransport
) -> None:
    server.route("/old", lambda req: Reply(302, headers={"Location": "/new"}))
    server.route("/new", lambda req: Reply(200, {"here": True}))
    raw = transport.send(
        "GET", server.url + "/old", headers={"Authorization": "Bearer abcd"}, timeout=FAST
    )
    assert raw.json() == {"here": True} and raw.history == [302]
    assert server.requests_to("/new")[0].header("Authorization") == "Bearer abcd"


def test_redirect_to_other_host_is_refused(
    server: TestServer, transport: RequestsTransport
) -> None:
    other = f"http://localhost:{server.port}/elsewhere"
    server.route("/old", lambda req: Reply(302, headers={"Location": other}))
    with pytest.raises(RedirectRefusedError, match="another host, localhost; not followed"):
        transport.send(
            "GET", server.url + "/old", headers={"Authorization": "Bearer abcd"}, timeout=FAST
        )
    assert server.requests_to("/elsewhere") == []


def test_redirect_to_allowed_host_drops_credentials(
    server: TestServer, transport: RequestsTransport
) -> None:
    other = f"http://localhost:{server.port}/elsewhere"
    server.route("/old", lambda req: Reply(307, headers={"Location": other}))
    server.route("/elsewhere", lambda req: Reply(200, {"moved": True}))
    raw = transport.send(
        "GET",
        server.url + "/old",
        headers={"Authorization": "Bearer abcd", "Procore-Company-Id": "5"},
        timeout=FAST,
        allowed_hosts=frozenset({"127.0.0.1", "localhost"}),
    )
    assert raw.json() == {"moved": True}
    followed = server.requests_to("/elsewhere")[0]
    assert followed.header("Authorization") is None
    assert followed.header("Procore-Company-Id") == "5"


def test_requests_itself_strips_authorization_on_host_change(server: TestServer) -> None:
    """The library behaviour our reasoning relies on, checked rather than assumed."""
    other = f"http://localhost:{server.port}/elsewhere"
    server.route("/old", lambda req: Reply(302, headers={"Location": other}))
    server.route("/elsewhere", lambda req: Reply(200, b"ok"))
    with requests.Session() as session:
        session.get(server.url + "/old", headers={"Authorization": "Bearer abcd"}, timeout=2)
    assert server.requests_to("/elsewhere")[0].header("Authorization") is None


def test_too_many_redirects(server: TestServer, transport: RequestsTransport) -> None:
    server.route("/loop", lambda req: Reply(302, headers={"Location": "/loop"}))
    with pytest.raises(TransportError, match="more than 5 redirects"):
        transport.send("GET", server.url + "/loop", timeout=FAST)


def test_parse_links_reads_rels() -> None:
    value = '<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last"'
    assert parse_links(value) == {"next": "https://a/x?page=2", "last": "https://a/x?page=9"}
    assert parse_links(None) == {} and parse_links("") == {}


_url = st.from_regex(r"https://api\.example\.com/[a-z]{1,8}\?page=[0-9]{1,4}", fullmatch=True)


@given(st.dictionaries(st.sampled_from(["next", "prev", "first", "last"]), _url, min_size=1))
def test_parse_links_round_trips(links: dict[str, str]) -> None:
    header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
    assert parse_links(header) == links


@given(st.text(max_size=200))
def test_parse_links_never_raises(value: str) -> None:
    assert isinstance(parse_links(value), dict)


class _ChunkedServer:
    """Streams ``size`` bytes with chunked encoding (no Content-Length)."""

    def __init__(self, size: int) -> None:
        import http.server
        import threading

        body = b"y" * size

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for i in range(0, len(body), 8192):
                        chunk = body[i : i + 8192]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass

        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self._srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._srv.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> _ChunkedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._srv.shutdown()
        self._srv.server_close()
