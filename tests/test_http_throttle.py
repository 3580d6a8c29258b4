"""Proactive rate limiting: server pauses (Remaining 0 -> Reset) and client budgets."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from task_runner.errors import RetryWaitTooLongError
from task_runner.http import Client, FakeClock, InMemoryBudgetStore, Throttle
from task_runner.model import (
    ConnectionConfig,
    Expect,
    PreparedRequest,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from tests.httpserver import Reply, TestServer

NOW = 1_700_000_000.0


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(lambda req: Reply(200, [1], {"X-Rate-Limit-Remaining": "50"})) as srv:
        yield srv


def _get(client: Client, server: TestServer, max_wait: float = 300) -> int:
    page = client.send(
        PreparedRequest("GET", server.url + "/x"),
        retry=RetryPolicy(max_wait=max_wait),
        timeout=Timeout(2, 2),
        expect=Expect(),
    )
    return page.status


def test_remaining_zero_pauses_the_next_request_until_reset(server: TestServer) -> None:
    clock = FakeClock(NOW)
    server.script(
        Reply(200, [1], {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(int(NOW) + 25)})
    )
    with Client(ConnectionConfig(name="c", base_url=server.url), clock=clock) as client:
        _get(client, server)
        assert clock.sleeps == []
        _get(client, server)
        assert clock.sleeps == [25.0]
        _get(client, server)
        assert clock.sleeps == [25.0]  # the pause is over


def test_pause_beyond_max_wait_fails_at_once(server: TestServer) -> None:
    clock = FakeClock(NOW)
    server.script(
        Reply(200, [1], {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(int(NOW) + 3000)})
    )
    with Client(ConnectionConfig(name="c", base_url=server.url), clock=clock) as client:
        _get(client, server, max_wait=60)
        with pytest.raises(
            RetryWaitTooLongError, match=r"X-Rate-Limit-Remaining: 0.*max_wait of 60s"
        ):
            _get(client, server, max_wait=60)
    assert len(server.requests) == 1


def test_client_budget_spaces_requests(server: TestServer) -> None:
    clock = FakeClock(NOW)
    conn = ConnectionConfig(name="c", base_url=server.url, rate_limit=RateLimit(requests=2, per=10))
    with Client(conn, clock=clock) as client:
        for _ in range(5):
            _get(client, server)
    assert len(server.requests) == 5
    assert clock.sleeps == [10.0, 10.0]  # requests 3 and 5 waited for the window


def test_budget_shared_by_clients_through_one_store(server: TestServer) -> None:
    clock = FakeClock(NOW)
    store = InMemoryBudgetStore()
    conn = ConnectionConfig(
        name="shared", base_url=server.url, rate_limit=RateLimit(requests=3, per=60)
    )
    with (
        Client(conn, clock=clock, budget_store=store) as a,
        Client(conn, clock=clock, budget_store=store) as b,
    ):
        for client in (a, b, a, b):
            _get(client, server)
    assert clock.sleeps == [60.0]


def test_store_grants_exactly_the_budget_under_contention() -> None:
    store = InMemoryBudgetStore()
    limit = RateLimit(requests=10, per=1)
    waits: list[float] = []
    barrier = threading.Barrier(40)

    def take() -> None:
        barrier.wait()
        waits.append(store.reserve("k", limit, NOW))

    threads = [threading.Thread(target=take) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert waits.count(0.0) == 10 and all(w == pytest.approx(1.0) for w in waits if w)


def test_429_reset_pauses_other_requests_too() -> None:
    clock = FakeClock(NOW)
    throttle = Throttle("c", None, InMemoryBudgetStore(), clock)
    throttle.observe(429, {"X-Rate-Limit-Reset": str(NOW + 5)})
    throttle.wait_turn(max_wait=10)
    assert clock.sleeps == [5.0]


def test_garbage_reset_header_is_ignored() -> None:
    clock = FakeClock(NOW)
    throttle = Throttle("c", None, InMemoryBudgetStore(), clock)
    throttle.observe(200, {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "soon"})
    throttle.wait_turn(max_wait=10)
    assert clock.sleeps == []
