"""The ``next_url`` paginator: each page's body holds the next page's URL.

The URL is read at ``next_url`` (a JSON pointer: ``/next``, ``/links/next``,
``/paging/next``) and resolved against the URL of the response that carried it (RFC 3986
section 5); ``null``, ``""`` or no such field ends the listing. A URL fetched before stops
the walk with a warning instead of looping. The client applies the credential rule to it
(credentials only to the connection's origin).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urljoin

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
from task_runner.pointer import resolve

__all__ = ["NextUrlPaginator"]


@register_paginator
class NextUrlPaginator:
    name: ClassVar[str] = "next_url"
    options: ClassVar[dict[str, Any]] = {
        "next_url": {
            "type": "string",
            "description": "JSON pointer of the next page's URL in a body",
        },
    }

    def walk(
        self, get: GetPage, pagination: Pagination, tally: Tally, hints: Hints
    ) -> Iterator[Page]:
        page, _ = admitted(get, tally, 1, None, {})
        yield page
        seen = {page.url: 1}
        number = 1
        while True:
            value = resolve(page.body, pagination.next_url)
            if not isinstance(value, str) or not value.strip():
                return
            url = urljoin(page.url, value.strip())
            if url in seen:
                tally.warn(
                    f"page {number}: the next URL points back at page {seen[url]}; stopped "
                    "(the API's next links loop)",
                    unresolved=True,
                )
                return
            if stop_at_cap(pagination, number, tally):
                return
            number += 1
            seen[url] = number
            page, received = admitted(get, tally, number, url)
            yield page
            if received and not page.items:
                tally.warn(
                    f"page {number} brought only items of earlier pages; stopped (the API's "
                    "next URLs do not move through the listing)",
                    unresolved=True,
                )
                return
