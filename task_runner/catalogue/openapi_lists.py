"""What a list operation of an OpenAPI document returns, and how it pages.

Read from the operation's query parameters and its success response (the lowest ``2xx``,
else ``2XX``, else ``default``; its JSON content and documented headers):

- **items**: a JSON pointer to the item list. A bare array is ``""``; an object whose
  array property has a wrapper name (``data``, ``items``, ``results``, ``records``...),
  or whose only array property sits among paging fields only (``total``, ``next``,
  ``meta``, ``has_more``...), gives ``/<that property>``. A single resource with an
  array field (``{"id", "name", "tags": [...]}``) is not a list.
- **pagination**, first match wins: a cursor parameter (``cursor``, ``starting_after``,
  ``page_token``...) is style ``cursor``, with ``cursor_from`` the next-cursor field of
  the body (``/next_cursor``, ``/meta/next_cursor``...) or else the last item's id
  (``/data/-1/id``); a ``page`` parameter is ``page`` (with ``per_page``/``page_size``/
  ``limit`` as ``per_page_param``); an ``offset``/``skip`` parameter is ``offset`` (with
  ``limit_param``); a next-page URL in the body (``/next``, ``/links/next``,
  ``/_links/next/href``, ``/@odata.nextLink``) is ``next_url``; a documented ``Link``
  response header is ``link``; otherwise ``none``. ``has_more`` (a boolean "more pages"
  field) and ``total_header`` (``Total``, ``X-Total-Count``...) are added when documented.

Example::

    listing = detect("get", parameters, operation["responses"], follow)
    listing.items, listing.pagination     # '/data', {'style': 'cursor', ...}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from task_runner.catalogue.opid import snake_case

__all__ = ["PAGINATION_KEYS", "Listing", "all_header_names", "detect", "success_response"]

#: Follows a ``$ref`` chain; None when it is broken.
Follow = Callable[[Any], Any]

#: The keys of a pagination mapping, in the order they are written.
PAGINATION_KEYS = (
    "style",
    "page_param",
    "per_page_param",
    "offset_param",
    "limit_param",
    "cursor_param",
    "cursor_from",
    "has_more",
    "next_url",
    "total_header",
)


def _names(text: str) -> tuple[str, ...]:
    """The space-separated names of ``text`` (keeps the lists below readable)."""
    return tuple(text.split())


WRAPPER_KEYS = _names(
    "data items results records entries values value elements objects list content rows hits "
    "nodes collection"
)
#: Words of top-level fields that may stand beside the item list of a list response.
META_WORDS = frozenset(
    _names(
        "total count page pages next prev previous cursor cursors more offset limit link links "
        "meta metadata paging pagination size token url href object first last after before "
        "included has self context odata"
    )
)
#: Objects that hold paging fields (``/meta/next_cursor``, ``/links/next``).
CONTAINERS = frozenset(
    _names(
        "meta metadata pagination paging page_info pageinfo response_metadata cursors links "
        "_links page next"
    )
)

CURSOR_PARAMS = _names(
    "cursor starting_after after page_token pagetoken next_token nexttoken next_page_token "
    "continuation_token continuationtoken continuation page[cursor] page[after] next_cursor "
    "marker start_cursor startcursor"
)
PAGE_PARAMS = _names("page page_number pagenumber page[number] pageno page_no")
PER_PAGE_PARAMS = _names(
    "per_page perpage page_size pagesize page[size] limit size count page_limit pagelimit"
)
OFFSET_PARAMS = _names("offset skip $skip start start_index startindex page[offset]")
LIMIT_PARAMS = _names(
    "limit count size max_results maxresults $top top page[limit] page_size pagesize per_page "
    "max take"
)
NEXT_CURSOR_FIELDS = _names(
    "next_cursor nextcursor next_page_token nextpagetoken next_token nexttoken end_cursor "
    "endcursor cursor continuation_token continuationtoken after"
)
NEXT_URL_FIELDS = _names(
    "next_url nexturl next_page_url nextpageurl next_link nextlink @odata.nextlink next_href"
)
HAS_MORE_FIELDS = _names("has_more hasmore has_next_page hasnextpage has_next hasnext more")
TOTAL_HEADERS = _names("total x-total-count x-total total-count x-total-results")


@dataclass(frozen=True)
class Listing:
    """One operation that returns a list (``items``) or takes paging parameters."""

    method: str
    items: str | None
    pagination: Mapping[str, Any]

    @property
    def pages(self) -> bool:
        """Whether this operation's pagination counts for the API's profile (a GET)."""
        return self.method.lower() == "get"

    def definition_fields(self, profile_pagination: Mapping[str, Any]) -> dict[str, Any]:
        """``x-items``, and ``x-pagination`` when it differs from the profile's."""
        fields: dict[str, Any] = {}
        if self.items is not None:
            fields["x-items"] = self.items
        if self.pages and dict(self.pagination) != dict(profile_pagination):
            fields["x-pagination"] = dict(self.pagination)
        return fields


def _pointer_part(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def success_response(responses: Mapping[Any, Any], follow: Follow) -> dict[str, Any] | None:
    """The lowest ``2xx`` response, else ``2XX``, else ``default`` (``$ref`` followed)."""
    codes = sorted(str(c) for c in responses if str(c).isdigit() and str(c).startswith("2"))
    for code in [*codes, "2XX", "2xx", "default"]:
        raw = responses.get(code, responses.get(int(code)) if code.isdigit() else None)
        response = follow(raw) if raw is not None else None
        if isinstance(response, dict):
            return response
    return None


def _json_schema(response: Mapping[str, Any], follow: Follow) -> dict[str, Any] | None:
    content = response.get("content")
    if not isinstance(content, dict):
        return None
    for media, entry in content.items():
        if str(media).split(";")[0].strip().lower().endswith("json") and isinstance(entry, dict):
            schema = follow(entry.get("schema"))
            return schema if isinstance(schema, dict) else None
    return None


def _header_names(response: Mapping[str, Any]) -> list[str]:
    headers = response.get("headers")
    return [str(h) for h in headers] if isinstance(headers, dict) else []


def all_header_names(responses: Mapping[Any, Any], follow: Follow) -> list[str]:
    """Every response header any response of the operation documents."""
    names: list[str] = []
    for raw in responses.values():
        response = follow(raw)
        if isinstance(response, dict):
            names.extend(_header_names(response))
    return names


def _is_array(schema: Any) -> bool:
    kind = schema.get("type") if isinstance(schema, dict) else None
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


def properties(schema: Any, follow: Follow, depth: int = 0) -> dict[str, Any]:
    """An object schema's properties (``allOf`` parts merged), each ``$ref`` followed."""
    schema = follow(schema)
    if not isinstance(schema, dict) or depth > 8:
        return {}
    found: dict[str, Any] = {}
    for part in schema.get("allOf") or []:
        found.update(properties(part, follow, depth + 1))
    raw = schema.get("properties")
    for name, sub in raw.items() if isinstance(raw, dict) else ():
        found[str(name)] = follow(sub)
    return found


def _is_meta(name: str) -> bool:
    return bool(META_WORDS & set(snake_case(name).split("_")))


def items_pointer(schema: Any, follow: Follow) -> str | None:
    """Where the item list is in a response body (module docstring), or None."""
    schema = follow(schema)
    if not isinstance(schema, dict):
        return None
    if _is_array(schema):
        return ""
    props = properties(schema, follow)
    arrays = [name for name, sub in props.items() if _is_array(sub)]
    wrapped = next((n for k in WRAPPER_KEYS for n in arrays if n.lower() == k), None)
    chosen = wrapped or (arrays[0] if len(arrays) == 1 else None)
    if chosen is None:
        return None
    others = [n for n in props if n != chosen and not (wrapped and n in arrays)]
    return "/" + _pointer_part(chosen) if all(_is_meta(n) for n in others) else None


def _fields(schema: Any, follow: Follow, prefix: str = "", depth: int = 0) -> Iterator[tuple]:
    """``(pointer, lower-cased name, schema)`` of body fields, into paging containers."""
    for name, sub in properties(schema, follow).items():
        pointer = f"{prefix}/{_pointer_part(name)}"
        yield pointer, name.lower(), sub
        if depth < 2 and name.lower() in CONTAINERS and isinstance(sub, dict):
            yield from _fields(sub, follow, pointer, depth + 1)


def _is_url(pointer: str, name: str, schema: Any) -> bool:
    schema = schema if isinstance(schema, dict) else {}
    if schema.get("type") not in (None, "string") and not isinstance(schema.get("type"), list):
        return False
    if name in NEXT_URL_FIELDS or schema.get("format") in ("uri", "url", "uri-reference"):
        return True
    parent = pointer.rsplit("/", 2)[-2].lower() if pointer.count("/") >= 2 else ""
    return (name == "href" and parent == "next") or (name == "next" and parent in CONTAINERS)


def _find(fields: list[tuple], names: tuple[str, ...], test: Callable[..., bool]) -> str | None:
    for wanted in names:
        for pointer, name, sub in fields:
            if name == wanted and test(pointer, name, sub):
                return str(pointer)
    return None


def _scalar_param(param: Mapping[str, Any]) -> bool:
    schema = param.get("schema") or {}
    return schema.get("type") not in ("array", "object", "boolean") and schema.get(
        "format"
    ) not in ("date", "date-time")


def _body_style(fields: list[tuple], headers: list[str]) -> dict[str, Any]:
    next_url = _find(fields, (*NEXT_URL_FIELDS, "next", "href"), _is_url)
    if next_url is not None:
        return {"style": "next_url", "next_url": next_url}
    if "link" in (h.lower() for h in headers):
        return {"style": "link"}
    return {"style": "none"}


def pagination(
    parameters: list[dict[str, Any]],
    schema: Any,
    items: str | None,
    headers: list[str],
    follow: Follow,
) -> dict[str, Any]:
    """The pagination mapping of one operation (keys of :data:`PAGINATION_KEYS`)."""
    query = {str(p["name"]).lower(): p for p in parameters if p.get("in") == "query"}

    def pick(names: tuple[str, ...]) -> str | None:
        return next((str(query[n]["name"]) for n in names if n in query), None)

    def pick_number(names: tuple[str, ...]) -> str | None:
        return next(
            (str(query[n]["name"]) for n in names if n in query and _scalar_param(query[n])), None
        )

    fields = list(_fields(schema, follow)) if schema is not None else []
    found: dict[str, Any]
    if cursor := pick(CURSOR_PARAMS):
        found = {
            "style": "cursor",
            "limit_param": pick_number(LIMIT_PARAMS),
            "cursor_param": cursor,
        }
        found["cursor_from"] = _find(fields, NEXT_CURSOR_FIELDS, lambda *a: True) or _last_id(
            schema, items, follow
        )
    elif page := pick_number(PAGE_PARAMS):
        found = {
            "style": "page",
            "page_param": page,
            "per_page_param": pick_number(PER_PAGE_PARAMS),
        }
    elif offset := pick_number(OFFSET_PARAMS):
        found = {
            "style": "offset",
            "offset_param": offset,
            "limit_param": pick_number(LIMIT_PARAMS),
        }
    else:
        found = _body_style(fields, headers)
    if found["style"] != "none":
        found["has_more"] = _find(fields, HAS_MORE_FIELDS, lambda p, n, s: _boolean(s))
        found["total_header"] = next((h for h in headers if h.lower() in TOTAL_HEADERS), None)
    return {k: found[k] for k in PAGINATION_KEYS if found.get(k) is not None}


def _boolean(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") in ("boolean", ["boolean", "null"])


def _last_id(schema: Any, items: str | None, follow: Follow) -> str | None:
    """``<items>/-1/id`` when the listed items have an ``id`` (Stripe's cursor)."""
    if items is None:
        return None
    node = follow(schema)
    for part in [p for p in items.split("/") if p]:
        node = properties(node, follow).get(part.replace("~1", "/").replace("~0", "~"))
    element = follow(node.get("items")) if isinstance(node, dict) else None
    return f"{items}/-1/id" if "id" in properties(element, follow) else None


def detect(
    method: str, parameters: list[dict[str, Any]], responses: Mapping[Any, Any], follow: Follow
) -> Listing | None:
    """The operation's :class:`Listing`, or None when it neither lists nor pages."""
    response = success_response(responses, follow)
    schema = _json_schema(response, follow) if response is not None else None
    items = items_pointer(schema, follow) if schema is not None else None
    if method.lower() != "get":
        return Listing(method, items, {}) if items is not None else None
    headers = _header_names(response) if response is not None else []
    found = pagination(parameters, schema, items, headers, follow)
    if items is None and found["style"] in ("none", "link", "next_url"):
        return None
    return Listing(method, items, found)
