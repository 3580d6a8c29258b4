"""Paginators: one module per way an API splits a listing, registered by name.

A paginator walks a listing page by page and yields :class:`~task_runner.http.response.Page`
objects in order, every page's items admitted by the task's
:class:`~task_runner.http.tally.Tally` (duplicates dropped, ``Total`` compared, mismatches
reported), so each one keeps the guarantees of "Data you can trust". Built in:

==============  =================================================================
``page``        page number; ``Total``/``Per-Page``, ``Link`` or neither (Procore)
``offset``      ``offset`` + ``limit``
``cursor``      a cursor read from the body (``/data/-1/id``, ``/next_cursor``), sent
                as ``starting_after``; ``has_more`` when the API has the flag
``next_url``    the next page's URL in the body (``/next``, ``/links/next``)
==============  =================================================================

Adding one is one module and one registration; its ``options`` are the JSON Schema of
the task-level ``paginate:`` keys it reads (the workflow schema is built from them)::

    @register_paginator
    class TokenPaginator:
        name = "token"
        options = {"token_param": {"type": "string"}}

        def walk(self, get, pagination, tally, hints):
            ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from task_runner.errors import Interrupted, PaginationError, TaskRunnerError
from task_runner.http.concurrency import AdaptiveConcurrency
from task_runner.http.response import Page
from task_runner.http.tally import Tally
from task_runner.model import Pagination

__all__ = [
    "PAGINATORS",
    "GetPage",
    "Hints",
    "Paginator",
    "admitted",
    "capped",
    "fetch",
    "get_paginator",
    "register_paginator",
    "stop_at_cap",
]


class GetPage(Protocol):
    """``get(number, url, query)``: page ``number``; from ``url`` (a next link) when
    given, else the task's request with ``query`` set (``None``: the page parameter)."""

    def __call__(
        self, number: int, url: str | None, query: Mapping[str, str] | None = None
    ) -> Page: ...


@dataclass(frozen=True)
class Hints:
    """What the walk knows of the request: its query as sent (the asked page size is
    there) and a callback told the number of pages once it is known."""

    query: Mapping[str, str] = field(default_factory=dict)
    on_total: Callable[[int], None] | None = None
    #: How many pages may be in flight, when it follows the API instead of a fixed
    #: ``max_concurrency`` (see :mod:`task_runner.http.concurrency`).
    concurrency: AdaptiveConcurrency | None = None


class Paginator(Protocol):
    name: ClassVar[str]
    #: JSON Schema of the task-level ``paginate:`` keys this paginator reads.
    options: ClassVar[Mapping[str, Any]]

    def walk(
        self, get: GetPage, pagination: Pagination, tally: Tally, hints: Hints
    ) -> Iterator[Page]: ...


PAGINATORS: dict[str, Paginator] = {}


def register_paginator(cls: type[Any]) -> type[Any]:
    """Register a paginator class under its ``name`` (the ``paginate.style`` value)."""
    PAGINATORS[cls.name] = cls()
    return cls


def get_paginator(style: str) -> Paginator:
    """The paginator registered as ``style``; :class:`PaginationError` naming the known ones."""
    _load_builtins()
    try:
        return PAGINATORS[style]
    except KeyError:
        known = ", ".join(sorted(PAGINATORS))
        raise PaginationError(f"unknown pagination style {style!r} (known: {known})") from None


def fetch(
    get: GetPage, number: int, url: str | None, query: Mapping[str, str] | None = None
) -> Page:
    """One page; a failure after its retries becomes a :class:`PaginationError` naming it."""
    try:
        return get(number, url) if query is None else get(number, url, query)
    except (PaginationError, Interrupted):  # a cancel is not a page's failure
        raise
    except TaskRunnerError as exc:
        raise PaginationError(
            f"page {number} failed: {exc.message}", page=number, task=exc.task
        ) from exc


def admitted(
    get: GetPage,
    tally: Tally,
    number: int,
    url: str | None,
    query: Mapping[str, str] | None = None,
) -> tuple[Page, int]:
    """Fetch page ``number`` and let ``tally`` admit its items: the page (its ``items``
    now only the new ones) and how many items it held as received."""
    page = fetch(get, number, url, query)
    received = len(page.items)
    page.items = tally.admit(number, page.items, page.headers)
    return page, received


def stop_at_cap(pagination: Pagination, number: int, tally: Tally) -> bool:
    """True (and the tally told why) when page ``number`` is the last ``max_pages`` allows
    although the listing goes on."""
    if pagination.max_pages is None or number < pagination.max_pages:
        return False
    tally.capped = capped(pagination.max_pages)
    return True


def capped(limit: int | None) -> str:
    """The tally's note when ``max_pages`` stopped a walk that had more to read."""
    return f"stopped after max_pages={limit}; the API has more pages"


_BUILTINS = ("page", "offset", "cursor", "next_url")


def _load_builtins() -> None:
    for name in _BUILTINS:
        importlib.import_module(f"{__name__}.{name}")


_COMMON_OPTIONS: dict[str, Any] = {
    "pages": {"oneOf": [{"const": "all"}, {"type": "integer", "minimum": 1}]},
    "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 64},
    "key": {
        "description": "The item field that identifies an item (dotted for nested, e.g. "
        "data.id); items repeated across pages are kept once. null: keep every item.",
        "oneOf": [{"type": "string", "minLength": 1}, {"type": "null"}],
        "default": "id",
    },
    "version": {
        "description": "The item field that changes on every update (default updated_at); a "
        "windowed task drops an item an earlier, overlapping window delivered at the same key "
        "and version. null: by key alone.",
        "oneOf": [{"type": "string", "minLength": 1}, {"type": "null"}],
        "default": "updated_at",
    },
    "on_mismatch": {
        "description": "When the run cannot vouch for the listing (delivered count against "
        "Total, a listing that changed under the run, a looping Link): warn (default) or fail "
        "(exit 1, the JSONL output is not published).",
        "enum": ["warn", "fail"],
        "default": "warn",
    },
    "items": {
        "description": 'JSON pointer of the item list in a page\'s body ("" for a bare '
        "array, /data); default from the operation or the API profile.",
        "type": "string",
    },
}


def paginate_schema() -> dict[str, Any]:
    """The workflow schema's ``paginate`` definition, built from the registered paginators:
    ``all``, ``false``, a number of pages, or an object of the common keys, ``style`` (one
    of the registered names) and every paginator's ``options``."""
    _load_builtins()
    properties: dict[str, Any] = dict(_COMMON_OPTIONS)
    properties["style"] = {
        "description": "How the API splits a listing (default from the API profile).",
        "enum": sorted(PAGINATORS),
    }
    for name in sorted(PAGINATORS):
        for key, schema in PAGINATORS[name].options.items():
            properties.setdefault(key, schema)
    return {
        "oneOf": [
            {"const": "all"},
            {"const": False},
            {"type": "integer", "minimum": 1},
            {"type": "object", "additionalProperties": False, "properties": properties},
        ]
    }
