"""One job: turn a raw HTTP response into a :class:`Page` (parsed body, items, attempts).

Items: a JSON list body is its elements (``serializer_view=ids_only`` gives ids); any
other non-empty body is one item. Procore list endpoints answer bare arrays, so no
envelope convention (``{"data": [...]}``) is guessed at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict

from task_runner.http.retry import Attempt
from task_runner.http.transport import RawResponse, parse_links

__all__ = ["Page", "Response", "decode_body", "extract_items", "total_pages"]


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
        return parse_links(self.header("Link"))


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


def extract_items(body: Any) -> list[Any]:
    if body is None or body == "":
        return []
    if isinstance(body, list):
        return body
    return [body]


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
