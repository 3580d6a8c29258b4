"""The ``offset`` paginator: ``offset`` + ``limit`` query parameters.

The offset moves by the number of items each page really held, so a server that clamps
``limit`` is walked without gaps. With a ``Total`` header the walk ends at ``Total`` (an
empty page before it is not the end; a full page at it asks once more, in case ``Total``
was stale); without one it ends at an empty page, or at a page that brings nothing new
(an API that ignores ``offset``, reported).
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

__all__ = ["OffsetPaginator"]


@register_paginator
class OffsetPaginator:
    name: ClassVar[str] = "offset"
    options: ClassVar[dict[str, Any]] = {
        "offset_param": {"type": "string", "description": "the query parameter of the offset"},
        "limit_param": {"type": "string", "description": "the query parameter of the page size"},
        "total_header": {
            "type": "string",
            "description": "the response header with the item count",
        },
    }

    def walk(
        self, get: GetPage, pagination: Pagination, tally: Tally, hints: Hints
    ) -> Iterator[Page]:
        asked = _int(hints.query.get(pagination.limit_param))
        offset = _int(hints.query.get(pagination.offset_param)) or 0
        size = asked
        number = 1
        while True:
            query = {pagination.offset_param: str(offset)}
            page, received = admitted(get, tally, number, None, query)
            yield page
            total = tally.total_reported
            size = size or received or None
            if received and not page.items and (total is None or offset >= total):
                tally.warn(
                    f"page {number} brought only items of earlier pages; stopped (the API "
                    f"may ignore {pagination.offset_param})",
                    unresolved=True,
                )
                return
            if not received and not size:
                return  # an empty first page and no page size to step by: nothing more
            offset += received or (size or 0)
            if not _more(received, size, offset, total, tally, number):
                return
            if stop_at_cap(pagination, number, tally):
                return
            number += 1


def _more(
    received: int, size: int | None, offset: int, total: int | None, tally: Tally, number: int
) -> bool:
    if total is None:
        return received > 0  # no count: until an empty page
    if offset < total:
        if received == 0:
            tally.warn(f"page {number} was empty although Total says {total}; going on")
        return True
    return bool(received and size and received >= size)  # full at Total: maybe stale


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() else None
