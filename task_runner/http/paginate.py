"""One job: walk a task's listing with the paginator its ``Pagination.style`` names.

The paginators live in :mod:`task_runner.http.paginators`, one module each; this is the
one entry the client calls. Every paginator yields pages in order, each page's items
admitted by the tally (see :mod:`task_runner.http.tally`).

Example::

    tally = Tally(key="id")
    for page in paginate(get_page, Pagination(mode="all"), tally=tally):
        handle(page.items)
    tally.finish()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from task_runner.http.concurrency import AdaptiveConcurrency
from task_runner.http.paginators import GetPage, Hints, get_paginator
from task_runner.http.paginators.page import page_links
from task_runner.http.response import Page
from task_runner.http.tally import Tally
from task_runner.model import Pagination

__all__ = ["GetPage", "page_links", "paginate"]


def paginate(
    get: GetPage,
    pagination: Pagination,
    *,
    tally: Tally,
    per_page_hint: str | None = None,
    on_total: Callable[[int], None] | None = None,
    query: Mapping[str, str] | None = None,
    concurrency: AdaptiveConcurrency | None = None,
) -> Iterator[Page]:
    """Yield the listing's pages in order (see :mod:`task_runner.http.paginators`).

    ``query``: the request's query as sent (the asked page size is read from it);
    ``per_page_hint``: the asked page size when ``query`` is not given; ``concurrency``:
    the window that decides how many pages are in flight, instead of
    ``pagination.max_concurrency`` (see :mod:`task_runner.http.concurrency`).
    """
    sent = dict(query or {})
    if per_page_hint is not None:
        sent.setdefault(pagination.per_page_param, per_page_hint)
    hints = Hints(query=sent, on_total=on_total, concurrency=concurrency)
    return get_paginator(pagination.style).walk(get, pagination, tally, hints)
