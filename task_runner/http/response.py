"""One job: turn a raw HTTP response into a :class:`Page` (parsed body, items, attempts).

Items: a JSON list body is its elements (``serializer_view=ids_only`` gives ids); any
other non-empty body is one item. Procore list endpoints answer bare arrays, so no
envelope convention (``{"data": [...]}``) is guessed at.

:func:`check_body` holds a success body to what the operation promises: JSON when the
request asked for JSON, and a JSON array for a list operation. A maintenance page
(``200 text/html``), plain text, XML or a JSON error object with status 200 is an
:class:`UnexpectedBodyError`, never a record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict

from task_runner.http.faults import InvalidBodyError
from task_runner.http.links import LinkHeaderError, links_by_rel
from task_runner.http.retry import Attempt
from task_runner.http.transport import RawResponse, safe_url
from task_runner.model import Expect
from task_runner.pointer import MISSING, resolve
from task_runner.redact import REDACTOR

__all__ = [
    "Page",
    "Response",
    "UnexpectedBodyError",
    "check_body",
    "decode_body",
    "extract_items",
    "total_pages",
]

EXCERPT_CHARS = 200


@dataclass
class Page:
    """One response of a task: page ``number`` (1 when not paginating)."""

    number: int
    status: int
    reason: str
    headers: dict[str, str]
    body: Any
    items: list[Any]
    elapsed: float
    url: str
    attempts: list[Attempt] = field(default_factory=list)

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by case-insensitive name."""
        return CaseInsensitiveDict(self.headers).get(name, default)

    @property
    def links(self) -> dict[str, str]:
        """``Link`` relations as absolute URLs, resolved against this page's URL
        (RFC 8288 section 3.1, RFC 3986 section 5); ``{}`` when absent or malformed."""
        try:
            return links_by_rel(self.header("Link"), base_url=self.url)
        except LinkHeaderError:
            return {}


#: ``Client.send`` answers one :class:`Page`; the alias reads better there.
Response = Page


def decode_body(raw: RawResponse, *, strict: bool) -> Any:
    """JSON if the response is JSON; text otherwise; ``None`` when empty.

    ``strict``: a body that claims JSON but is not raises ``InvalidBodyError`` (used
    for accepted statuses; error bodies are shown as they came).
    """
    if not raw.content:
        return None
    if raw.is_json and strict:
        return raw.json()
    try:
        return raw.json()
    except Exception:
        return raw.text


class UnexpectedBodyError(InvalidBodyError):
    """A success status came with a body that is not what the operation promises.

    Retried once like any invalid body (a maintenance page may pass), then the page
    fails: the body is never emitted as a record.
    """


def check_body(raw: RawResponse, body: Any, expect: Expect, *, wants_json: bool) -> None:
    """Raise :class:`UnexpectedBodyError` unless ``body`` is what the request was promised.

    ``wants_json``: the request's ``Accept`` asks for JSON, so a body with a non-JSON
    ``Content-Type``, or with none that does not parse as JSON, is refused.
    ``expect.items == "list"``: the body must be a JSON array. An empty body is no items.
    """
    if not raw.content:
        return
    declared = raw.headers.get("Content-Type", "").split(";")[0].strip()
    content_type = declared or "no Content-Type"
    if wants_json and ((declared and not raw.is_json) or (not declared and isinstance(body, str))):
        problem = f"is {content_type}, not the JSON the operation promises"
    elif expect.items == "list" and not isinstance(resolve(body, expect.items_at), list):
        where = f" at {expect.items_at}" if expect.items_at else ""
        kind = "a JSON object" if isinstance(body, dict) else "not a JSON array"
        if expect.items_at and isinstance(body, dict):
            kind = "a JSON object without a list"
        problem = f"is {kind}{where} ({content_type}) where the operation promises a list"
    else:
        return
    excerpt = REDACTOR.redact(raw.text[:EXCERPT_CHARS]).strip().replace("\n", " ")
    raise UnexpectedBodyError(
        f"the {raw.status} response from {safe_url(raw.url)} {problem}; it is "
        f"not used as data. The body starts: {excerpt!r}"
    )


def extract_items(body: Any, items_at: str = "") -> list[Any]:
    """The items of a body: the list at the JSON pointer ``items_at`` (``""``: the body
    itself); a body that holds no list there is one item (a single object), none when
    empty. :func:`check_body` has already refused a non-list where a list is promised."""
    if body is None or body == "":
        return []
    found = resolve(body, items_at) if items_at else body
    if isinstance(found, list):
        return found
    if found is MISSING or found is None:
        return [] if items_at else [body]
    return [found]


def total_pages(headers: Mapping[str, str], per_page_hint: str | None = None) -> int | None:
    """Pages implied by ``Total`` and ``Per-Page`` (or the per_page we sent), if known."""
    lookup = CaseInsensitiveDict(headers)
    total, per_page = lookup.get("Total"), lookup.get("Per-Page") or per_page_hint
    try:
        total_n, per_page_n = int(str(total)), int(str(per_page))
    except ValueError:
        return None
    if total_n < 0 or per_page_n <= 0:
        return None
    return max(1, math.ceil(total_n / per_page_n))
