"""The retry layer: what is retried, how long it waits, and what it records."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from task_runner.errors import HTTPStatusError, RetryWaitTooLongError, TransportError
from task_runner.http import Client, FakeClock
from task_runner.http.faults import InvalidBodyError
from task_runner.http.retry import (
    call_with_retry,
    parse_rate_limit_reset,
    parse_retry_after,
    server_wait,
)
from task_runner.model import ConnectionConfig, Expect, PreparedRequest, RetryPolicy, Timeout
from tests.httpserver import Reply, TestServer

NOW = 1_700_000_000.0
FAST = Timeout(connect=2.0, read=2.0)
NO_JITTER = RetryPolicy(max_attempts=4, initial_interval=1.0, backoff_rate=2.0, jitter=False)


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(lambda req: Reply(200, [{"id": 1}])) as srv:
        yield srv


def _client(server: TestServer, clock: FakeClock) -> Client:
    return Client(
        ConnectionConfig(name="t", base_url=server.url), clock=clock, rng=random.Random(7)
    )


def _send(
    server: TestServer, clock: FakeClock, policy: RetryPolicy = NO_JITTER, method: str = "GET"
):
    with _client(server, clock) as client:
        return client.send(
            PreparedRequest(method, server.url + "/x", task="t1"),
            retry=policy,
            timeout=FAST,
            expect=Expect(),
        )


def test_retry_after_seconds_is_honoured(server: TestServer) -> None:
    clock = FakeClock(NOW)
    server.script(Reply(503, "busy", {"Retry-After": "7"}))
    page = _send(server, clock)
    assert page.status == 200 and clock.sleeps == [7.0]
    assert [(a.number, a.status, a.wait_before_next) for a in page.attempts] == [
        (1, 503, 7.0),
        (2, 200, 0.0),
    ]


def test_retry_after_http_date_is_honoured(server: TestServer) -> None:
    clock = FakeClock(NOW)
    when = format_datetime(datetime.fromtimestamp(NOW + 42, tz=timezone.utc), usegmt=True)
    server.script(Reply(503, "busy", {"Retry-After": when}))
    assert _send(server, clock).status == 200
    assert clock.sleeps == [42.0]


def test_429_with_only_rate_limit_reset(server: TestServer) -> None:
    clock = FakeClock(NOW)
    server.script(
        Reply(
            429,
            "slow down",
            {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(int(NOW) + 30)},
        )
    )
    assert _send(server, clock).status == 200
    assert clock.sleeps == [30.0]


def test_exponential_backoff_without_server_hint(server: TestServer) -> None:
    clock = FakeClock(NOW)
    server.script(Reply(502), Reply(504), Reply(503))
    assert _send(server, clock).status == 200
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_full_jitter_is_deterministic_with_a_seeded_rng(server: TestServer) -> None:
    clock = FakeClock(NOW)
    server.script(Reply(502), Reply(502))
    policy = RetryPolicy(max_attempts=3, initial_interval=1.0, backoff_rate=2.0, jitter=True)
    _send(server, clock, policy)
    rng = random.Random(7)
    assert clock.sleeps == [rng.uniform(0, 1.0), rng.uniform(0, 2.0)]


def test_gives_up_after_max_attempts_with_status_error(server: TestServer) -> None:
    clock = FakeClock(NOW)
    server.script(*[Reply(503, "still busy")] * 4)
    with pytest.raises(
        HTTPStatusError, match="answered 503 Service Unavailable: still busy"
    ) as info:
        _send(server, clock)
    assert info.value.status == 503 and info.value.task == "t1"
    assert len(server.requests) == 4 and clock.sleeps == [1.0, 2.0, 4.0]


def test_wait_beyond_max_wait_fails_at_once(server: TestServer) -> None:
    clock = FakeClock(NOW)
    server.script(Reply(429, "later", {"Retry-After": "3600"}))
    policy = RetryPolicy(max_attempts=5, max_wait=60)
    with pytest.raises(RetryWaitTooLongError, match=r"wait 3600s .* max_wait of 60s"):
        _send(server, clock, policy)
    assert clock.sleeps == [] and len(server.requests) == 1


def test_status_not_in_policy_is_not_retried(server: TestServer) -> None:
    server.script(Reply(500, "boom"))
    with pytest.raises(HTTPStatusError, match="500"):
        _send(server, FakeClock(NOW))
    assert len(server.requests) == 1


def test_post_is_not_retried_by_default(server: TestServer) -> None:
    server.script(Reply(503, "busy", {"Retry-After": "1"}))
    with pytest.raises(HTTPStatusError):
        _send(server, FakeClock(NOW), method="POST")
    assert len(server.requests) == 1


def test_post_is_retried_when_the_task_opts_in(server: TestServer) -> None:
    server.script(Reply(503, "busy", {"Retry-After": "1"}))
    policy = RetryPolicy(retry_non_idempotent=True)
    assert _send(server, FakeClock(NOW), policy, method="POST").status == 200
    assert len(server.requests) == 2


def test_connection_reset_is_retried(server: TestServer) -> None:
    server.script(Reply(reset=True), Reply(200, [1], truncate=1))
    page = _send(server, FakeClock(NOW))
    assert page.items == [{"id": 1}]
    assert [a.status for a in page.attempts] == [None, None, 200]
    assert "connection" in (page.attempts[0].error or "")


def test_connection_errors_not_retried_when_disabled(server: TestServer) -> None:
    server.script(Reply(reset=True))
    with pytest.raises(TransportError):
        _send(server, FakeClock(NOW), RetryPolicy(retry_on_connection_errors=False))


def test_invalid_json_retried_once_then_fails(server: TestServer) -> None:
    broken = Reply(200, b"[{", {"Content-Type": "application/json"})
    server.script(broken, broken, broken)
    with pytest.raises(InvalidBodyError, match="not valid JSON"):
        _send(server, FakeClock(NOW), RetryPolicy(max_attempts=5, jitter=False))
    assert len(server.requests) == 2


def test_invalid_json_once_recovers(server: TestServer) -> None:
    server.script(Reply(200, b"[{", {"Content-Type": "application/json"}))
    assert _send(server, FakeClock(NOW)).items == [{"id": 1}]


def test_call_with_retry_records_error_attempts() -> None:
    clock = FakeClock(NOW)
    attempts: list = []
    calls = iter([TransportError("no"), None])

    def send() -> None:
        exc = next(calls)
        if exc:
            raise exc

    with pytest.raises(TransportError):  # not retryable: raised at once, still recorded
        call_with_retry(send, policy=NO_JITTER, method="GET", clock=clock, attempts=attempts)
    assert len(attempts) == 1 and attempts[0].error == "no" and attempts[0].status is None


# --- parsers ---------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**9))
def test_retry_after_seconds_parse(seconds: int) -> None:
    assert parse_retry_after(str(seconds), NOW) == float(seconds)


@given(st.integers(min_value=0, max_value=10**7))
def test_retry_after_http_date_parse(ahead: int) -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + ahead, tz=timezone.utc), usegmt=True)
    assert parse_retry_after(when, NOW) == pytest.approx(float(ahead))


@given(st.text(max_size=60))
def test_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, NOW)
    assert result is None or result >= 0


@given(st.text(max_size=30))
def test_rate_limit_reset_never_raises(value: str) -> None:
    result = parse_rate_limit_reset(value, NOW)
    assert result is None or result >= 0


def test_past_dates_mean_no_wait() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0
    assert parse_rate_limit_reset(str(NOW - 10), NOW) == 0.0


def test_server_wait_takes_the_longer_signal() -> None:
    headers = {
        "Retry-After": "5",
        "X-Rate-Limit-Reset": str(NOW + 20),
        "X-Rate-Limit-Remaining": "0",
    }
    assert server_wait(429, headers, NOW) == 20.0
    # Reset alone means nothing while the budget is not spent
    assert (
        server_wait(503, {"X-Rate-Limit-Reset": str(NOW + 20), "X-Rate-Limit-Remaining": "4"}, NOW)
        is None
    )
