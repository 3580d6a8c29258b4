"""Adaptive concurrency: the pages in flight follow the API's budget, latency and refusals.

Unit tests drive :class:`AdaptiveConcurrency` with pages built by hand; the end-to-end
tests walk a real listing on a loopback server that counts the requests in flight.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from task_runner.http import Client, FakeClock
from task_runner.http.concurrency import CEILING, START, AdaptiveConcurrency, limit_header
from task_runner.http.paginate import paginate
from task_runner.http.tally import Tally
from task_runner.model import (
    ConnectionConfig,
    Expect,
    Pagination,
    PreparedRequest,
    RateLimitHeaders,
    RetryPolicy,
    Timeout,
)
from task_runner.workflow.loader import parse_paginate
from tests.httpserver import Recorded, Reply, TestServer, paged

ITEMS = [{"id": i} for i in range(1, 601)]  # 60 pages of 10


@dataclass
class _Attempt:
    status: int | None


@dataclass
class _Page:
    headers: Mapping[str, str] = field(default_factory=dict)
    elapsed: float = 0.01
    attempts: list[_Attempt] = field(default_factory=lambda: [_Attempt(200)])


def _clean(window: AdaptiveConcurrency, pages: int, **kw: Any) -> None:
    for _ in range(pages):
        window.observe(_Page(**kw))


# --- the rules ---------------------------------------------------------------------


def test_starts_modest_and_doubles_per_clean_window_up_to_the_ceiling() -> None:
    window = AdaptiveConcurrency(ceiling=10)
    assert window.limit == START
    _clean(window, START)
    assert window.limit == 2 * START
    _clean(window, 100)
    assert window.limit == 10
    assert list(window.history) == [4, 8, 10]


@pytest.mark.parametrize("status", [429, 503])
def test_a_refusal_halves_the_window_and_growth_turns_additive(status: int) -> None:
    window = AdaptiveConcurrency(ceiling=16)
    _clean(window, 4 + 8)  # 4 -> 8 -> 16
    assert window.limit == 16
    window.observe(_Page(attempts=[_Attempt(status), _Attempt(200)]))
    assert window.limit == 8
    _clean(window, 8)
    assert window.limit == 9  # +1 per clean window now, not x2


def test_refusals_from_one_window_halve_it_once() -> None:
    window = AdaptiveConcurrency(ceiling=16)
    _clean(window, 4 + 8)
    for _ in range(16):  # every page in flight comes back refused
        window.observe(_Page(attempts=[_Attempt(429), _Attempt(200)]))
    assert window.limit == 8
    window.observe(_Page(attempts=[_Attempt(429)]))  # the next window: halved again
    assert window.limit == 4


def test_refusals_never_take_it_below_one() -> None:
    window = AdaptiveConcurrency(ceiling=8, start=1)
    for _ in range(5):
        window.observe(_Page(attempts=[_Attempt(429)]))
    assert window.limit == 1


def test_never_more_in_flight_than_a_quarter_of_the_remaining_budget() -> None:
    window = AdaptiveConcurrency(ceiling=10)
    _clean(window, 50, headers={"X-Rate-Limit-Remaining": "3000"})
    assert window.limit == 10
    window.observe(_Page(headers={"X-Rate-Limit-Remaining": "12"}))
    assert window.limit == 3
    window.observe(_Page(headers={"x-rate-limit-remaining": "2"}))  # any case
    assert window.limit == 1


def test_a_nearly_spent_budget_halves_the_window() -> None:
    window = AdaptiveConcurrency(ceiling=10)
    _clean(window, 50, headers={"X-Rate-Limit-Limit": "3600", "X-Rate-Limit-Remaining": "3000"})
    assert window.limit == 10
    window.observe(_Page(headers={"X-Rate-Limit-Limit": "3600", "X-Rate-Limit-Remaining": "300"}))
    assert window.limit == 5


def test_the_profile_names_the_budget_headers() -> None:
    names = RateLimitHeaders(remaining="RateLimit-Remaining", reset="RateLimit-Reset")
    assert limit_header(names) == "RateLimit-Limit"
    window = AdaptiveConcurrency(ceiling=10, headers=names)
    _clean(window, 50, headers={"RateLimit-Remaining": "8"})
    assert window.limit == 2


@pytest.mark.parametrize("value", ["", "lots", "-", "1e3"], ids=["empty", "word", "dash", "float"])
def test_a_budget_header_that_is_not_a_number_is_ignored(value: str) -> None:
    window = AdaptiveConcurrency(ceiling=10)
    _clean(window, 50, headers={"X-Rate-Limit-Remaining": value})
    assert window.limit == 10


def test_pages_much_slower_than_the_fastest_shrink_the_window() -> None:
    window = AdaptiveConcurrency(ceiling=10)
    _clean(window, 50, elapsed=0.05)
    assert window.limit == 10
    _clean(window, 3, elapsed=0.5)
    assert window.limit == 7


def test_fast_pages_within_the_noise_floor_do_not_count_as_slow() -> None:
    window = AdaptiveConcurrency(ceiling=10)
    _clean(window, 50, elapsed=0.001)
    _clean(window, 5, elapsed=0.02)  # 20x the fastest, but 20 ms is no saturation
    assert window.limit == 10


# --- end to end on a loopback server ------------------------------------------------


class InFlight:
    """Wraps a handler: counts the requests being answered at once, with a delay."""

    def __init__(self, handler: Callable[[Recorded], Reply], delay: float) -> None:
        self.handler, self.delay = handler, delay
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, req: Recorded) -> Reply:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
        return self.handler(req)


def _walk(server: TestServer, pagination: Pagination, connection: ConnectionConfig) -> int:
    request = PreparedRequest("GET", server.url + "/items", query=(("per_page", "10"),))
    with Client(connection, clock=FakeClock()) as client:
        pages = list(
            client.fetch(
                request,
                retry=RetryPolicy(max_attempts=6, jitter=False),
                timeout=Timeout(5, 5),
                expect=Expect(),
                pagination=pagination,
            )
        )
    return sum(len(p.items) for p in pages)


def _connection(server: TestServer, **kw: Any) -> ConnectionConfig:
    return ConnectionConfig(name="c", base_url=server.url, **kw)


def test_a_default_walk_grows_past_the_old_fixed_four() -> None:
    counter = InFlight(paged(ITEMS), delay=0.03)
    with TestServer(counter) as server:
        got = _walk(server, parse_paginate("all"), _connection(server, adaptive=True))
    assert got == len(ITEMS)
    assert START < counter.peak <= CEILING


def test_a_fixed_max_concurrency_wins() -> None:
    counter = InFlight(paged(ITEMS), delay=0.02)
    pagination = parse_paginate({"pages": "all", "max_concurrency": 3})
    assert not pagination.adaptive
    with TestServer(counter) as server:
        got = _walk(server, pagination, _connection(server, adaptive=True))
    assert got == len(ITEMS) and counter.peak == 3


def test_the_connections_max_concurrency_caps_an_adaptive_walk() -> None:
    counter = InFlight(paged(ITEMS), delay=0.02)
    with TestServer(counter) as server:
        got = _walk(server, parse_paginate("all"), _connection(server, max_concurrency=2))
    assert got == len(ITEMS) and counter.peak <= 2


def test_the_history_keeps_only_the_latest_changes() -> None:
    window = AdaptiveConcurrency(ceiling=10)
    for _ in range(2_000):  # grow and fall back, over and over
        _clean(window, 20)
        window.observe(_Page(attempts=[_Attempt(429)]))
    assert 0 < len(window.history) <= 256


def test_a_small_remaining_budget_keeps_few_requests_in_flight() -> None:
    counter = InFlight(paged(ITEMS, headers={"X-Rate-Limit-Remaining": "8"}), delay=0.02)
    with TestServer(counter) as server:
        got = _walk(server, parse_paginate("all"), _connection(server, adaptive=True))
    # A quarter of 8 is 2; the very first window (4) may already be on its way.
    assert got == len(ITEMS) and counter.peak <= START


def test_429s_make_the_walk_back_off_and_every_page_still_arrives() -> None:
    refusals = {n: [Reply(429, {"error": "slow down"}, {"Retry-After": "1"})] for n in (5, 6, 7)}
    counter = InFlight(paged(ITEMS, faults=refusals), delay=0.02)
    pagination = parse_paginate("all")
    with TestServer(counter) as server:
        connection = _connection(server, adaptive=True)
        request = PreparedRequest("GET", server.url + "/items", query=(("per_page", "10"),))
        with Client(connection, clock=FakeClock()) as client:
            window = client.window(pagination)
            assert window is not None

            def get(number: int, url: str | None, query: Any = None) -> Any:
                paged_request = request.with_query(page=str(number))
                return client.send(
                    paged_request,
                    retry=RetryPolicy(max_attempts=6, jitter=False),
                    timeout=Timeout(5, 5),
                    expect=Expect(),
                )

            pages = list(
                paginate(
                    get,
                    pagination,
                    tally=Tally(key="id"),
                    query=dict(request.query),
                    concurrency=window,
                )
            )
    assert sum(len(p.items) for p in pages) == len(ITEMS)
    # Grew, then halved at least once on the refusals.
    assert any(later < earlier for earlier, later in itertools.pairwise(window.history))


def test_a_workflow_without_max_concurrency_is_adaptive(tmp_path: Path) -> None:
    from task_runner.workflow import load_workflow
    from task_runner.workflow.prepare import Preparer, RunContext

    path = tmp_path / "wf.yaml"
    path.write_text(
        "name: adaptive\n"
        "connections:\n"
        "  api: {base_url: 'http://127.0.0.1:9'}\n"
        "  fixed: {base_url: 'http://127.0.0.1:9', max_concurrency: 3}\n"
        "tasks:\n"
        "  a: {connection: api, request: {method: GET, url: /a}, paginate: all}\n"
        "  b:\n"
        "    connection: fixed\n"
        "    request: {method: GET, url: /b}\n"
        "    paginate: {pages: all, max_concurrency: 2}\n"
    )
    workflow = load_workflow(path)
    assert workflow.task("a").pagination.adaptive
    assert not workflow.task("b").pagination.adaptive
    preparer = Preparer(workflow, {}, RunContext(id="r1", workflow="adaptive"))
    assert preparer.connection("api").adaptive
    assert not preparer.connection("fixed").adaptive
