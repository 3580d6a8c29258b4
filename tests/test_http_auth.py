"""Auth against a real loopback token server: caching, refresh, rotation, redaction."""

from __future__ import annotations

import itertools
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from task_runner.errors import AuthError, HTTPStatusError
from task_runner.http import Client, FakeClock, FileTokenStore, MemoryTokenStore, StoredTokens
from task_runner.http.faults import TokenEndpointUnavailable
from task_runner.model import (
    AuthConfig,
    ConnectionConfig,
    Expect,
    PreparedRequest,
    RetryPolicy,
    Timeout,
)
from tests.httpserver import Recorded, Reply, TestServer

NOW = 1_700_000_000.0
FAST = Timeout(connect=2.0, read=2.0)
CANARY_SECRET = "canary-secret-8c1f2e7d"


class OAuth:
    """A tiny OAuth server: client credentials, rotating single-use refresh tokens."""

    def __init__(self, ttl: int = 3600, refresh_tokens: tuple[str, ...] = ("seed-rt",)) -> None:
        self.ttl = ttl
        self.valid_access: set[str] = set()
        self.valid_refresh = set(refresh_tokens)
        self.reused: list[str] = []
        self.token_requests = 0
        self.issued_refresh: list[str] = []
        self.fail_next: list[Reply] = []
        self.check_before_use: FileTokenStore | None = None
        self.violations: list[str] = []
        self._n = itertools.count(1)
        self._lock = threading.Lock()

    def token(self, req: Recorded) -> Reply:
        form = req.form
        with self._lock:
            self.token_requests += 1
            if self.fail_next:
                return self.fail_next.pop(0)
            if form.get("client_secret") != CANARY_SECRET:
                return Reply(401, {"error": "invalid_client", "echo": form.get("client_secret")})
            body = {
                "access_token": f"at-{next(self._n)}-xyz",
                "token_type": "bearer",
                "expires_in": self.ttl,
            }
            if form["grant_type"] == "refresh_token":
                rt = form.get("refresh_token", "")
                if rt not in self.valid_refresh:
                    self.reused.append(rt)
                    return Reply(400, {"error": "invalid_grant"})
                self.valid_refresh.discard(rt)
                body["refresh_token"] = f"rt-{next(self._n)}-abc"
                self.valid_refresh.add(body["refresh_token"])
                self.issued_refresh.append(body["refresh_token"])
            self.valid_access.add(body["access_token"])
            return Reply(200, body)

    def api(self, req: Recorded) -> Reply:
        token = (req.header("Authorization") or "").removeprefix("Bearer ")
        with self._lock:
            if token not in self.valid_access:
                return Reply(401, {"error": "unauthorized"})
            if self.check_before_use is not None:
                stored = self.check_before_use.load()
                if stored is None or stored.refresh_token != self.issued_refresh[-1]:
                    self.violations.append(token)
        return Reply(200, [{"id": 1}])


@pytest.fixture
def oauth() -> OAuth:
    return OAuth()


@pytest.fixture
def server(oauth: OAuth) -> Iterator[TestServer]:
    with TestServer() as srv:
        srv.route("/oauth/token", oauth.token)
        srv.route("/api", oauth.api)
        yield srv


def _conn(
    server: TestServer, type_: str = "oauth2_client_credentials", **auth: object
) -> ConnectionConfig:
    settings: dict = {
        "type": type_,
        "token_url": server.url + "/oauth/token",
        "client_id": "cid",
        "client_secret": CANARY_SECRET,
        **auth,
    }
    return ConnectionConfig(name="api", base_url=server.url, auth=AuthConfig(**settings))


def _get(client: Client, server: TestServer, policy: RetryPolicy | None = None):
    return client.send(
        PreparedRequest("GET", server.url + "/api", task="t"),
        retry=policy or RetryPolicy(max_attempts=1),
        timeout=FAST,
        expect=Expect(),
    )


def test_bearer_header(server: TestServer, oauth: OAuth) -> None:
    oauth.valid_access.add("static-token-1")
    conn = ConnectionConfig(
        name="b", base_url=server.url, auth=AuthConfig(type="bearer", token="static-token-1")
    )
    with Client(conn) as client:
        assert _get(client, server).status == 200
    assert server.requests_to("/api")[0].header("Authorization") == "Bearer static-token-1"


def test_bearer_401_is_not_retried(server: TestServer) -> None:
    conn = ConnectionConfig(
        name="b", base_url=server.url, auth=AuthConfig(type="bearer", token="wrong-token")
    )
    with Client(conn) as client, pytest.raises(HTTPStatusError, match="401"):
        _get(client, server)
    assert len(server.requests_to("/api")) == 1


def test_client_credentials_fetched_once_for_many_threads(server: TestServer, oauth: OAuth) -> None:
    with Client(_conn(server), clock=FakeClock(NOW)) as client:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: _get(client, server).status, range(24)))
    assert statuses == [200] * 24 and oauth.token_requests == 1
    form = server.requests_to("/oauth/token")[0]
    assert form.header("Content-Type") == "application/x-www-form-urlencoded"
    assert form.form["grant_type"] == "client_credentials"


def test_client_credentials_refreshed_before_expiry(server: TestServer, oauth: OAuth) -> None:
    oauth.ttl = 600
    clock = FakeClock(NOW)
    with Client(_conn(server, refresh_margin=60), clock=clock) as client:
        _get(client, server)
        clock.advance(539)
        _get(client, server)
        assert oauth.token_requests == 1
        clock.advance(2)  # now within the 60 s margin
        _get(client, server)
        assert oauth.token_requests == 2


def test_client_credentials_401_reauths_once(server: TestServer, oauth: OAuth) -> None:
    with Client(_conn(server), clock=FakeClock(NOW)) as client:
        _get(client, server)
        oauth.valid_access.clear()  # the server revoked it early
        page = _get(client, server)
    assert page.status == 200 and oauth.token_requests == 2
    assert len(server.requests_to("/api")) == 3


def test_persistent_401_fails_after_one_reauth(server: TestServer, oauth: OAuth) -> None:
    server.route("/api", lambda req: Reply(401, {"error": "nope"}))
    with Client(_conn(server), clock=FakeClock(NOW)) as client:
        with pytest.raises(HTTPStatusError, match="401") as info:
            _get(client, server, RetryPolicy(max_attempts=3))
    assert info.value.status == 401
    assert len(server.requests_to("/api")) == 2 and oauth.token_requests == 2


def test_token_endpoint_refusal_is_an_auth_error_without_secrets(server: TestServer) -> None:
    conn = _conn(server)
    bad = ConnectionConfig(
        name="api",
        base_url=server.url,
        auth=AuthConfig(**{**conn.auth.__dict__, "client_secret": "wrong-secret-123"}),
    )
    with Client(bad) as client, pytest.raises(AuthError) as info:
        _get(client, server)
    text = str(info.value)
    assert "answered 401" in text and "invalid_client" in text
    assert "wrong-secret-123" not in text and "***" in text


def test_token_endpoint_outage_is_retried(server: TestServer, oauth: OAuth) -> None:
    oauth.fail_next.append(Reply(503, "down"))
    clock = FakeClock(NOW)
    with Client(_conn(server), clock=clock) as client:
        page = _get(client, server, RetryPolicy(max_attempts=3, jitter=False))
    assert page.status == 200 and oauth.token_requests == 2
    assert isinstance(page.attempts, list) and "503" in (page.attempts[0].error or "")
    assert TokenEndpointUnavailable.retryable


def test_refresh_token_rotation_saved_before_use(
    server: TestServer, oauth: OAuth, tmp_path: Path
) -> None:
    oauth.ttl = 0  # every request needs a fresh token: three rotations
    store = FileTokenStore(tmp_path / "tokens" / "api.json")
    oauth.check_before_use = store
    conn = _conn(server, "oauth2_refresh_token", refresh_token="seed-rt")
    with Client(conn, token_store=store) as client:
        for _ in range(3):
            assert _get(client, server).status == 200
    assert oauth.violations == [] and oauth.reused == []
    assert store.load().refresh_token == oauth.issued_refresh[-1]  # type: ignore[union-attr]
    assert len(oauth.issued_refresh) == 3
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_refresh_token_store_wins_over_config(server: TestServer, oauth: OAuth) -> None:
    oauth.valid_refresh = {"rotated-rt"}
    store = MemoryTokenStore(StoredTokens(refresh_token="rotated-rt"))
    conn = _conn(server, "oauth2_refresh_token", refresh_token="seed-rt-already-spent")
    with Client(conn, token_store=store, clock=FakeClock(NOW)) as client:
        assert _get(client, server).status == 200
    assert oauth.reused == []


def test_refresh_token_uses_access_token_another_process_stored(
    server: TestServer, oauth: OAuth, tmp_path: Path
) -> None:
    oauth.valid_access.add("fresh-from-elsewhere")
    store = FileTokenStore(tmp_path / "t.json")
    store.save(
        StoredTokens(
            refresh_token="seed-rt", access_token="fresh-from-elsewhere", refresh_at=NOW + 100
        )
    )
    conn = _conn(server, "oauth2_refresh_token")
    with Client(conn, token_store=store, clock=FakeClock(NOW)) as client:
        assert _get(client, server).status == 200
    assert oauth.token_requests == 0


def test_refresh_token_default_store_path(
    server: TestServer, oauth: OAuth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASK_RUNNER_STATE_DIR", str(tmp_path))
    conn = _conn(server, "oauth2_refresh_token", refresh_token="seed-rt")
    with Client(conn, clock=FakeClock(NOW)) as client:
        assert _get(client, server).status == 200
    saved = json.loads((tmp_path / "tokens" / "api.json").read_text())
    assert saved["refresh_token"] == oauth.issued_refresh[-1]


WORKER = textwrap.dedent(
    """
    import sys
    from task_runner.http import Client, FileTokenStore
    from task_runner.model import AuthConfig, ConnectionConfig, Expect, PreparedRequest, RetryPolicy, Timeout

    url, store_path, secret = sys.argv[1], sys.argv[2], sys.argv[3]
    auth = AuthConfig(type="oauth2_refresh_token", token_url=url + "/oauth/token", client_id="cid",
                      client_secret=secret, refresh_token="seed-rt")
    with Client(ConnectionConfig(name="p", base_url=url, auth=auth), token_store=FileTokenStore(store_path)) as c:
        for _ in range(6):
            page = c.send(PreparedRequest("GET", url + "/api"), retry=RetryPolicy(max_attempts=1),
                          timeout=Timeout(5, 5), expect=Expect())
            assert page.status == 200
    """
)


def test_two_processes_never_spend_one_refresh_token(
    server: TestServer, oauth: OAuth, tmp_path: Path
) -> None:
    oauth.ttl = 0  # every request refreshes: maximum contention on the store
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    args = [sys.executable, str(script), server.url, str(tmp_path / "store.json"), CANARY_SECRET]
    procs = [subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert oauth.reused == []
    assert len(oauth.issued_refresh) == 18
    assert (
        json.loads((tmp_path / "store.json").read_text())["refresh_token"]
        == oauth.issued_refresh[-1]
    )


def test_canary_secret_never_logged_or_shown(
    server: TestServer, oauth: OAuth, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.route(
        "/api",
        lambda req: Reply(403, {"echo": req.header("Authorization"), "secret": CANARY_SECRET}),
    )
    with Client(_conn(server), clock=FakeClock(NOW)) as client:
        with pytest.raises(HTTPStatusError) as info:
            _get(client, server)
    token = next(iter(oauth.valid_access))
    for text in (caplog.text, str(info.value), repr(info.value), info.value.body_excerpt):
        assert CANARY_SECRET not in text and token not in text
    assert "***" in info.value.body_excerpt
