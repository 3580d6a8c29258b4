"""Pagination: every page exactly once, in order, with Total or Link only, under faults."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from task_runner.errors import PaginationError, TransportError
from task_runner.http import Client, FakeClock
from task_runner.http.paginate import paginate
from task_runner.http.response import Page, total_pages
from task_runner.http.tally import Tally
from task_runner.model import (
    ConnectionConfig,
    Expect,
    Pagination,
    PreparedRequest,
    RetryPolicy,
    Timeout,
)
from tests.httpserver import Reply, TestServer, paged

ITEMS = [{"id": i} for i in range(1, 96)]  # 95 items: 10 pages of 10, the last has 5
MANY = [{"id": i} for i in range(1, 951)]
POLICY = RetryPolicy(max_attempts=4, jitter=False)


def _fetch(
    server: TestServer,
    pagination: Pagination,
    per_page: str = "10",
    tally: Tally | None = None,
    **kw: object,
) -> list[Page]:
    request = PreparedRequest(
        "GET", server.url + "/items", query=(("per_page", per_page),), task="list"
    )
    with Client(ConnectionConfig(name="c", base_url=server.url), clock=FakeClock(), **kw) as client:  # type: ignore[arg-type]
        return list(
            client.fetch(
                request,
                retry=POLICY,
                timeout=Timeout(2, 2),
                expect=Expect(),
                pagination=pagination,
                tally=tally,
            )
        )


def _ids(pages: list[Page]) -> list[int]:
    return [item["id"] for page in pages for item in page.items]


@pytest.mark.parametrize("mode", ["total", "link"], ids=["total-headers", "link-only"])
def test_all_pages_once_in_order(mode: str) -> None:
    with TestServer(paged(ITEMS, mode=mode)) as server:
        pages = _fetch(server, Pagination(mode="all"))
        fetched = sorted(int(r.param("page") or 0) for r in server.requests)
    assert [p.number for p in pages] == list(range(1, 11))
    assert _ids(pages) == list(range(1, 96))
    assert fetched == list(range(1, 11))  # no page requested twice


def test_total_mode_fetches_concurrently() -> None:
    active, peak, lock = [0], [0], threading.Lock()
    handler = paged(ITEMS)

    def slow(req):  # type: ignore[no-untyped-def]
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return handler(req)

    with TestServer(slow) as server:
        pages = _fetch(server, Pagination(mode="all", max_concurrency=4))
    assert _ids(pages) == list(range(1, 96))
    assert peak[0] > 1


def test_without_pagination_headers_pages_are_probed_until_a_short_page() -> None:
    with TestServer(paged(ITEMS, mode="none")) as server:
        pages = _fetch(server, Pagination(mode="all"))
    assert [p.number for p in pages] == list(range(1, 11))
    assert _ids(pages) == list(range(1, 96))


def test_without_pagination_headers_an_api_ignoring_page_is_not_read_twice() -> None:
    def handler(req):  # type: ignore[no-untyped-def]
        return Reply(200, ITEMS[:10])  # the same ten items whatever the page

    tally = Tally()
    with TestServer(handler) as server:
        pages = _fetch(server, Pagination(mode="all"), tally=tally)
        assert len(server.requests) == 2
    assert _ids(pages) == list(range(1, 11))
    assert tally.duplicates_dropped == 10 and not tally.complete
    assert "may ignore the page parameter" in tally.warnings[-1]


def test_pagination_off_sends_no_page_param() -> None:
    with TestServer(paged(ITEMS)) as server:
        pages = _fetch(server, Pagination(mode="none"))
        assert server.requests[0].param("page") is None
    assert len(pages) == 1


@pytest.mark.parametrize("mode", ["total", "link"])
def test_max_pages_stops_early(mode: str) -> None:
    with TestServer(paged(ITEMS, mode=mode)) as server:
        pages = _fetch(server, Pagination(mode="pages", max_pages=3))
        assert len(server.requests) == 3
    assert _ids(pages) == list(range(1, 31))


def test_an_empty_page_in_the_middle_is_not_the_end() -> None:
    handler = paged(ITEMS)

    def shrunk(req):  # type: ignore[no-untyped-def]
        reply = handler(req)
        if req.param("page") == "4":
            reply.body = []
        return reply

    tally = Tally()
    with TestServer(shrunk) as server:
        pages = _fetch(server, Pagination(mode="all", max_concurrency=2), tally=tally)
    assert [p.number for p in pages] == list(range(1, 11))
    assert _ids(pages) == list(range(1, 31)) + list(range(41, 96))
    assert not tally.complete and tally.item_count == 85 and tally.total_reported == 95
    assert any("page 4 was empty" in w for w in tally.warnings)


def test_empty_first_page() -> None:
    with TestServer(paged([])) as server:
        pages = _fetch(server, Pagination(mode="all"))
    assert len(pages) == 1 and pages[0].items == []


FAULTS = {
    2: [Reply(503, "busy", {"Retry-After": "1"})],
    3: [Reply(reset=True)],
    5: [Reply(200, b'[{"id": 41}, {"id"', truncate=10), Reply(429, "slow", {"Retry-After": "2"})],
    7: [Reply(502), Reply(504)],
    10: [Reply(200, b"[{", {"Content-Type": "application/json"})],
}


@pytest.mark.parametrize("mode", ["total", "link"])
def test_faults_on_some_pages_lose_and_duplicate_nothing(mode: str) -> None:
    with TestServer(paged(ITEMS, mode=mode, faults=FAULTS)) as server:
        pages = _fetch(server, Pagination(mode="all", max_concurrency=4))
    assert _ids(pages) == list(range(1, 96))
    assert [len(p.attempts) for p in pages] == [1, 2, 2, 1, 3, 1, 3, 1, 1, 2]
    assert all(a.page == p.number for p in pages for a in p.attempts)


@pytest.mark.parametrize("mode", ["total", "link"])
def test_failing_page_is_named(mode: str) -> None:
    with TestServer(paged(ITEMS, mode=mode, faults={6: [Reply(503, "down")] * 4})) as server:
        with pytest.raises(PaginationError, match=r"page 6 failed: .*answered 503") as info:
            _fetch(server, Pagination(mode="all"))
    assert info.value.page == 6 and info.value.task == "list"
    assert info.value.__cause__ is not None


def test_failing_page_stops_fetching_later_pages() -> None:
    with TestServer(paged(MANY, faults={2: [Reply(500, "x")]})) as server:
        with pytest.raises(PaginationError):
            _fetch(server, Pagination(mode="all", max_concurrency=2))
        assert len(server.requests) < 10  # a bounded window, not all 95 pages


def test_link_to_foreign_host_is_refused() -> None:
    def handler(req):  # type: ignore[no-untyped-def]
        return Reply(200, [{"id": 1}], {"Link": '<https://evil.example/steal?page=2>; rel="next"'})

    with TestServer(handler) as server:
        with pytest.raises(PaginationError, match=r"page 2 failed: .*evil\.example"):
            _fetch(server, Pagination(mode="all"))


def test_link_loop_is_detected() -> None:
    def handler(req):  # type: ignore[no-untyped-def]
        page = int(req.param("page") or 1)
        return Reply(200, [{"id": page}], {"Link": f'<{req.base_url}/items?page=2>; rel="next"'})

    tally = Tally()
    with TestServer(handler) as server:
        pages = _fetch(server, Pagination(mode="all"), tally=tally)
        assert len(server.requests) == 2
    assert _ids(pages) == [1, 2]
    assert not tally.complete
    assert "points back at page 2" in tally.mismatches[0]


def test_paginate_yields_in_order_whatever_finishes_first() -> None:
    rng = random.Random(3)
    delays = {n: rng.uniform(0, 0.02) for n in range(1, 41)}

    def get(number: int, url: str | None) -> Page:
        if number > 40:  # the last planned page is full and has no Link: one more is asked
            return Page(number, 200, "OK", {"Total": "40"}, None, [], 0.0, "u")
        time.sleep(delays[number])
        return Page(number, 200, "OK", {"Total": "40", "Per-Page": "1"}, None, [number], 0.0, "u")

    tally = Tally()
    pages = list(paginate(get, Pagination(mode="all", max_concurrency=8), tally=tally))
    assert [p.number for p in pages] == list(range(1, 42))
    tally.finish()
    assert tally.item_count == 40 and tally.complete and tally.warnings == []


def test_paginate_wraps_transport_errors() -> None:
    def get(number: int, url: str | None) -> Page:
        if number == 3:
            raise TransportError("connection reset")
        return Page(number, 200, "OK", {"Total": "50", "Per-Page": "10"}, None, [number], 0.0, "u")

    with pytest.raises(PaginationError, match="page 3 failed: connection reset"):
        list(paginate(get, Pagination(mode="all"), tally=Tally()))


def test_total_pages() -> None:
    assert total_pages({"Total": "95", "Per-Page": "10"}) == 10
    assert total_pages({"total": "0", "per-page": "10"}) == 1
    assert total_pages({"Total": "95"}, per_page_hint="50") == 2
    assert total_pages({"Total": "x", "Per-Page": "10"}) is None
    assert total_pages({}) is None


def test_reader_stopping_early_cancels_the_rest() -> None:
    with TestServer(paged(MANY)) as server:
        request = PreparedRequest("GET", server.url + "/items", query=(("per_page", "10"),))
        with Client(ConnectionConfig(name="c", base_url=server.url)) as client:
            pages: Iterator[Page] = client.fetch(
                request,
                retry=POLICY,
                timeout=Timeout(2, 2),
                expect=Expect(),
                pagination=Pagination(mode="all"),
            )
            assert next(pages).number == 1 and next(pages).number == 2
            pages.close()  # type: ignore[attr-defined]
        assert len(server.requests) < 20
