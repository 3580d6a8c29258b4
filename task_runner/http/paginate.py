"""One job: fetch every page of a listing exactly once and hand them out in order.

Page 1 first. When it carries ``Total`` and ``Per-Page``, the remaining pages are known
and fetched concurrently (``max_concurrency`` threads, a bounded window so memory stays
flat), yet yielded strictly in page order. When only ``Link: rel="next"`` is present,
it is followed one page at a time. An empty page ends the listing; ``max_pages`` stops
it early; a page that fails after its retries raises :class:`PaginationError` naming it.

Example::

    for page in paginate(get_page, Pagination(mode="all")):
        handle(page.items)
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from task_runner.errors import PaginationError, TaskRunnerError
from task_runner.http.response import Page, total_pages
from task_runner.model import Pagination

__all__ = ["GetPage", "paginate"]

#: ``get(number, url)``: page ``number``, from ``url`` (a ``Link: next``) when given.
GetPage = Callable[[int, "str | None"], Page]


def paginate(
    get: GetPage,
    pagination: Pagination,
    *,
    per_page_hint: str | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Iterator[Page]:
    """Yield pages in order, each exactly once (see the module docstring)."""
    limit = pagination.max_pages
    first = _fetch(get, 1, None)
    yield first
    if not first.items or (limit is not None and limit <= 1):
        return
    total = total_pages(first.headers, per_page_hint)
    if total is not None:
        last = min(total, limit) if limit is not None else total
        if on_total is not None:
            on_total(last)
        yield from _concurrent(get, range(2, last + 1), max(1, pagination.max_concurrency))
    else:
        yield from _follow_links(get, first, limit)


def _fetch(get: GetPage, number: int, url: str | None) -> Page:
    try:
        return get(number, url)
    except PaginationError:
        raise
    except TaskRunnerError as exc:
        raise PaginationError(
            f"page {number} failed: {exc.message}", page=number, task=exc.task
        ) from exc


def _concurrent(get: GetPage, numbers: range, workers: int) -> Iterator[Page]:
    """Fetch ``numbers`` with ``workers`` threads, at most ``workers`` pages ahead of the reader.

    The window bounds memory: at most ``workers`` decoded pages wait for the reader.
    """
    if not numbers:
        return
    if workers == 1:
        # One at a time: no pool, no futures, the reading thread fetches (the cheap path).
        for number in numbers:
            page = _fetch(get, number, None)
            if not page.items:
                return
            yield page
        return
    pending: collections.deque[tuple[int, Future[Page]]] = collections.deque()
    todo = iter(numbers)
    pool = ThreadPoolExecutor(max_workers=min(workers, len(numbers)), thread_name_prefix="page")
    try:
        for number in todo:
            pending.append((number, pool.submit(_fetch, get, number, None)))
            if len(pending) >= workers:
                break
        while pending:
            number, future = pending.popleft()
            page = future.result()  # re-raises the page's PaginationError
            if not page.items:
                return  # an empty page ends the listing, even if Total promised more
            yield page
            following = next(todo, None)
            if following is not None:
                pending.append((following, pool.submit(_fetch, get, following, None)))
    finally:
        # Early exit (error, empty page, reader stopped): do not fetch pages nobody reads.
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _follow_links(get: GetPage, page: Page, limit: int | None) -> Iterator[Page]:
    seen = {page.url}
    number = 1
    while (url := page.links.get("next")) and (limit is None or number < limit):
        if url in seen:
            raise PaginationError(
                f"page {number + 1}: the Link next URL repeats an earlier page; stopped to "
                "avoid fetching a page twice",
                page=number + 1,
            )
        seen.add(url)
        number += 1
        page = _fetch(get, number, url)
        if not page.items:
            return
        yield page
