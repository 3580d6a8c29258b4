"""The ``page`` paginator: page numbers, walked by what page 1's headers say.

- **Numbered** (``Total`` known): the pages ``Total`` implies are fetched concurrently
  (``max_concurrency`` threads, or as many as an adaptive window allows, see
  :mod:`task_runner.http.concurrency`; a bounded window so memory stays flat) and
  yielded in order. The page size is what the server really sends: a server that clamps
  ``per_page=1000`` to 100 items (with or without ``Per-Page``) is walked at 100. A later
  page whose ``Total`` differs re-plans the walk; an empty page in the middle is not the
  end while ``Total`` says more; when the last planned page is full, or its ``Link``
  names a ``next``, the walk goes on one page at a time until a short or empty page.
- **Linked** (only ``Link``): ``rel="next"`` is followed, resolved against the URL of the
  response that carried it (RFC 3986 section 5); a next link back to a page already
  fetched stops the walk with a warning instead of looping.
- **Probing** (neither): pages are asked for by number until an empty or short page, or
  a page that brings nothing new (an API that ignores ``page``).

The header names (``Total``, ``Per-Page``) and the parameters (``page``, ``per_page``)
come from the API profile through :class:`~task_runner.model.Pagination`.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from task_runner.http.concurrency import AdaptiveConcurrency
from task_runner.http.links import LinkHeaderError, links_by_rel
from task_runner.http.paginators import (
    GetPage,
    Hints,
    admitted,
    capped,
    fetch,
    register_paginator,
)
from task_runner.http.response import Page
from task_runner.http.tally import Tally, read_count_header
from task_runner.model import Pagination

__all__ = ["PagePaginator", "page_links"]

log = logging.getLogger("task_runner.http")


def page_links(page: Page, tally: Tally) -> dict[str, str] | None:
    """The page's ``Link`` relations as absolute URLs; ``None`` (and a warning) if malformed."""
    try:
        return links_by_rel(page.header("Link"), base_url=page.url)
    except LinkHeaderError as exc:
        tally.warn(f"page {page.number}: the Link header is malformed ({exc}); ignored")
        return None


@register_paginator
class PagePaginator:
    """Page numbers with ``Total``/``Per-Page`` headers, ``Link`` headers, or neither."""

    name: ClassVar[str] = "page"
    options: ClassVar[dict[str, Any]] = {
        "page_param": {"type": "string", "description": "the query parameter of the page number"},
        "per_page_param": {"type": "string", "description": "the query parameter of the page size"},
        "total_header": {
            "type": "string",
            "description": "the response header with the item count",
        },
        "per_page_header": {
            "type": "string",
            "description": "the response header with the page size",
        },
    }

    def walk(
        self, get: GetPage, pagination: Pagination, tally: Tally, hints: Hints
    ) -> Iterator[Page]:
        return paginate_pages(
            get,
            pagination,
            tally=tally,
            per_page_hint=hints.query.get(pagination.per_page_param),
            on_total=hints.on_total,
            concurrency=hints.concurrency,
        )


@dataclass
class _Walk:
    """What the walk knows after each page."""

    size: int | None  # the effective page size, None while unknown
    planned: int  # the last page known to exist
    limit: int | None

    def within(self, number: int) -> bool:
        return self.limit is None or number <= self.limit


def paginate_pages(
    get: GetPage,
    pagination: Pagination,
    *,
    tally: Tally,
    per_page_hint: str | None = None,
    on_total: Callable[[int], None] | None = None,
    concurrency: AdaptiveConcurrency | None = None,
) -> Iterator[Page]:
    """Yield pages in order, each page's items admitted by ``tally`` (see module docstring).

    ``concurrency``: the adaptive window; ``None``: ``pagination.max_concurrency`` fixed.
    """
    first = fetch(get, 1, None)
    if concurrency is not None:
        concurrency.observe(first)
    received = len(first.items)
    links = page_links(first, tally)
    first.items = tally.admit(1, first.items, first.headers)
    yield first
    total = tally.total_reported
    size = _page_size(first, received, per_page_hint, total, tally, pagination.per_page_header)
    walk = _Walk(size, 1, pagination.max_pages)
    if total is None and links and "next" in links:
        yield from _linked(get, first, links["next"], walk, tally)
        return
    if total is not None:
        if walk.size:
            walk.planned = max(1, math.ceil(total / walk.size))
        if walk.planned > 1 and on_total is not None:
            on_total(min(walk.planned, walk.limit or walk.planned))
    elif received == 0 or links:  # empty, or a Link header without next: the last page
        return
    elif walk.size and received < walk.size:
        # Neither Total nor Link: a short page may be the server's own page size (it
        # clamps per_page silently); one more page tells.
        walk.size = received
    if walk.planned == 1:
        if not _goes_on(first, received, received, links, walk, total):
            return
        walk.planned = 2
    if not walk.within(2):
        tally.capped = capped(walk.limit)
        return
    window = concurrency or FixedConcurrency(pagination.max_concurrency)
    yield from _numbered(get, walk, tally, window, on_total)


def _page_size(
    first: Page,
    received: int,
    hint: str | None,
    total: int | None,
    tally: Tally,
    per_page_header: str,
) -> int | None:
    """The page size the server really uses (what it sent wins over what was asked)."""
    header = read_count_header(first.headers, per_page_header, 1)
    if header.problem:
        tally.warn(header.problem)
    per_page = header.value
    asked = int(hint) if hint and hint.isascii() and hint.isdigit() else None
    size = per_page or asked
    if total is not None and received and total > received and (size is None or received < size):
        if size is not None:
            log.info(
                "page 1 holds %d items although %d per page were expected; the server's page "
                "size is %d, going on at that size",
                received,
                size,
                received,
            )
        size = received
    return size or (received or None)


def _goes_on(
    page: Page,
    received: int,
    fresh: int,
    links: dict[str, str] | None,
    walk: _Walk,
    total: int | None,
) -> bool:
    """After the last planned page: does the listing go on past it?

    A ``Link`` header that names no ``next`` says this is the last page. Without one, a
    full page may be followed by more (a ``Total`` that was stale when sent), so one
    more page is asked for.
    """
    if links and "next" in links:
        return True
    if links:
        return False
    if received == 0:
        return False
    if fresh == 0:
        return False  # only repeats: the API ignores the page number (warned by the caller)
    if walk.size is None:
        return total is None  # probing without a known size: until an empty page
    return received >= walk.size


def _numbered(
    get: GetPage,
    walk: _Walk,
    tally: Tally,
    window: Window,
    on_total: Callable[[int], None] | None,
) -> Iterator[Page]:
    """Pages 2.. by number: up to ``walk.planned`` concurrently (as many in flight as
    ``window.limit`` says, asked again before each request), past it one at a time."""
    workers = max(1, window.ceiling)
    # One worker: the reading thread fetches each page itself (no pool, no hand-off).
    pending: collections.deque[tuple[int, Future[Page] | None]] = collections.deque()
    pool = (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="page") if workers > 1 else None
    )
    following = 2
    try:
        while True:
            # Ahead of the reader only within the planned range, the window and max_pages.
            while (
                following <= walk.planned and len(pending) < window.limit and walk.within(following)
            ):
                job = pool.submit(fetch, get, following, None) if pool is not None else None
                pending.append((following, job))
                following += 1
            if not pending:
                if following <= walk.planned:
                    tally.capped = capped(walk.limit)
                return
            number, future = pending.popleft()
            # result() re-raises the page's PaginationError
            page = fetch(get, number, None) if future is None else future.result()
            window.observe(page)
            received = len(page.items)
            # Links matter only where the walk decides whether to go on (parsed once there).
            links = page_links(page, tally) if number >= walk.planned else None
            before = tally.total_reported
            page.items = tally.admit(number, page.items, page.headers)
            _replan(walk, tally, before, on_total)
            yield page
            if number < walk.planned:
                if received == 0:
                    tally.warn(
                        f"page {number} was empty although the API promised "
                        f"{walk.planned} page(s); going on"
                    )
                continue
            if received and not page.items and not (links and "next" in links):
                tally.warn(
                    f"page {number} brought only items of earlier pages; stopped (the API "
                    "may ignore the page parameter)",
                    unresolved=tally.total_reported is None,
                )
            if not _goes_on(page, received, len(page.items), links, walk, tally.total_reported):
                return
            walk.planned = number + 1
    finally:
        # Early exit (error, end, reader stopped): do not fetch pages nobody reads.
        for _, future in pending:
            if future is not None:
                future.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class Window(Protocol):
    """How many pages may be in flight: ``limit`` now, ``ceiling`` at most."""

    @property
    def limit(self) -> int: ...
    @property
    def ceiling(self) -> int: ...
    def observe(self, page: Page) -> None: ...


class FixedConcurrency:
    """A ``max_concurrency`` the task set: that many in flight, whatever the API says."""

    def __init__(self, limit: int) -> None:
        self.limit = self.ceiling = max(1, limit)

    def observe(self, page: Page) -> None:
        pass


def _replan(
    walk: _Walk, tally: Tally, before: int | None, on_total: Callable[[int], None] | None
) -> None:
    """A page whose ``Total`` differs: plan the walk on the new count."""
    total = tally.total_reported
    if total is None or total == before or not walk.size:
        return
    planned = max(1, math.ceil(total / walk.size))
    if planned > walk.planned:
        walk.planned = planned
        if on_total is not None:
            on_total(min(planned, walk.limit or planned))


def _linked(get: GetPage, page: Page, url: str, walk: _Walk, tally: Tally) -> Iterator[Page]:
    """Follow ``Link: rel="next"`` one page at a time."""
    seen = {page.url: 1}
    number = 1
    next_url: str | None = url
    while next_url:
        if not walk.within(number + 1):
            tally.capped = capped(walk.limit)
            return
        if next_url in seen:
            tally.warn(
                f"page {number}: the Link next URL points back at page {seen[next_url]}; "
                "stopped following it (the API's Link header loops)",
                unresolved=True,
            )
            return
        number += 1
        seen[next_url] = number
        page, received = admitted(get, tally, number, next_url)
        links = page_links(page, tally)
        yield page
        if links is None:
            tally.warn(
                f"page {number}: cannot tell whether more pages follow (malformed Link header)",
                unresolved=True,
            )
            return
        next_url = links.get("next")
        if received == 0 and next_url:
            tally.warn(f"page {number} was empty although its Link names a next page; going on")
