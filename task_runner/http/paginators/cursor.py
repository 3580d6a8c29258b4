"""The ``cursor`` paginator: each page names the cursor of the next.

The cursor is read from the page's body at ``cursor_from`` (a JSON pointer: ``/next_cursor``,
or ``/data/-1/id`` for "the id of the last item", Stripe's ``starting_after`` style) and
sent as ``cursor_param``. With ``has_more`` (a pointer to a boolean), ``false`` ends the
listing; without it an empty page or a missing cursor does. A cursor seen before stops
the walk with a warning instead of looping; ``has_more: true`` with no cursor is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from task_runner.http.paginators import (
    GetPage,
    Hints,
    admitted,
    register_paginator,
    stop_at_cap,
)
from task_runner.http.response import Page
from task_runner.http.tally import Tally
from task_runner.model import Pagination
from task_runner.pointer import MISSING, resolve

__all__ = ["CursorPaginator"]


@register_paginator
class CursorPaginator:
    name: ClassVar[str] = "cursor"
    options: ClassVar[dict[str, Any]] = {
        "cursor_param": {
            "type": "string",
            "description": "the query parameter that takes the cursor",
        },
        "cursor_from": {
            "type": "string",
            "description": "JSON pointer of the next cursor in a page's body",
        },
        "has_more": {
            "type": ["string", "null"],
            "description": "JSON pointer of a boolean 'more pages' flag",
        },
    }

    def walk(
        self, get: GetPage, pagination: Pagination, tally: Tally, hints: Hints
    ) -> Iterator[Page]:
        seen: dict[str, int] = {}
        query: dict[str, str] = {}
        number = 1
        while True:
            page, received = admitted(get, tally, number, None, query)
            yield page
            cursor = _next_cursor(page, received, pagination, tally)
            if cursor is None:
                return
            if cursor in seen:
                tally.warn(
                    f"page {number}: the next cursor {cursor!r} was already used by page "
                    f"{seen[cursor]}; stopped (the API's cursor loops)",
                    unresolved=True,
                )
                return
            if stop_at_cap(pagination, number, tally):
                return
            number += 1
            seen[cursor] = number
            query = {pagination.cursor_param: cursor}


def _next_cursor(page: Page, received: int, pagination: Pagination, tally: Tally) -> str | None:
    """The cursor of the next page, or None when the listing ended."""
    value = resolve(page.body, pagination.cursor_from)
    if pagination.has_more:
        more = resolve(page.body, pagination.has_more)
        if more is False:
            return None
        if more is MISSING:
            tally.warn(f"page {page.number}: no {pagination.has_more} flag in the body")
        elif more is True and (value is MISSING or value is None):
            tally.warn(
                f"page {page.number}: {pagination.has_more} is true but there is no cursor at "
                f"{pagination.cursor_from}; stopped",
                unresolved=True,
            )
            return None
    # Without a has_more flag an empty page ends the listing; with one, only the flag does.
    if (received == 0 and not pagination.has_more) or value in (MISSING, None, ""):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)
