"""``GET /rest/v1.0/images`` query semantics: parse every reference parameter, filter,
sort and cut one page out of the dataset.

Parameters are read as Procore reads them: bracket arrays from repeated keys
(``filters[trade_ids][]=1&filters[trade_ids][]=2``; a repeated key *without* ``[]`` keeps
only its last value), ranges joined by ``...``, booleans ``true``/``false``. A value the
API cannot read raises :class:`QueryError`, which the server answers with 422.

Sort fields (``-`` for descending, commas for several): the documented ``created_at``,
``taken_at``, ``exposure_date`` (= ``taken_at``), ``deleted_at`` (nothing is deleted: id
order), ``most_recent`` (newest ``created_at`` first), plus ``id`` and ``updated_at``.
Ties are always broken by ascending id, so pages never overlap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from task_runner.emulator.data import Dataset, ImageAttrs
from task_runner.formats import RANGE_SEPARATOR, parse_date, parse_range

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "SERIALIZER_VIEWS",
    "SORT_FIELDS",
    "ImageQuery",
    "QueryError",
    "parse_query",
    "select",
]

DEFAULT_PER_PAGE = 100
#: Older Procore docs give 10,000 as the hard maximum; larger values are cut to it.
MAX_PER_PAGE = 10_000
SERIALIZER_VIEWS = ("normal", "android", "mobile", "mobile_feed", "prostore_file", "ids_only")

_SortKey = Callable[[ImageAttrs], int]
SORT_FIELDS: dict[str, _SortKey] = {
    "created_at": lambda a: a.created_at,
    "taken_at": lambda a: a.taken_at,
    "exposure_date": lambda a: a.taken_at,
    "deleted_at": lambda a: 0,
    "most_recent": lambda a: -a.created_at,
    "updated_at": lambda a: a.updated_at,
    "id": lambda a: a.id,
}


class QueryError(ValueError):
    """A parameter value the API cannot read (answered with 422)."""


@dataclass
class ImageQuery:
    project_id: int
    image_category_id: int | None = None
    created_at: tuple[int, int] | None = None  # inclusive unix-second bounds
    updated_at: tuple[int, int] | None = None
    log_date: tuple[dt.date, dt.date] | None = None
    trade_ids: set[int] | None = None
    location_ids: list[tuple[int, int]] | None = None  # inclusive id ranges
    include_sublocations: bool = False
    ids: set[int] | None = None
    starred: bool = False
    private: bool = False
    query: str | None = None
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    view: str = "normal"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE


Params = dict[str, list[str]]


def _last(params: Params, key: str) -> str | None:
    values = params.get(key)
    return values[-1] if values else None


def _int(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise QueryError(f"{name}: {text!r} is not an integer") from None


def _bool(name: str, text: str | None) -> bool:
    if text is None or text == "":
        return False
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise QueryError(f"{name}: {text!r} is not a boolean (true or false)")


def _array(params: Params, name: str) -> list[str] | None:
    """``filters[x][]`` repeated, else ``filters[x]`` (its last value only)."""
    if f"{name}[]" in params:
        return params[f"{name}[]"]
    single = _last(params, name)
    return None if single is None else [single]


def _time_range(name: str, text: str) -> tuple[int, int]:
    try:
        start, end = parse_range(text)
    except ValueError as exc:
        raise QueryError(f"{name}: {exc}") from None
    if isinstance(start, dt.datetime) and isinstance(end, dt.datetime):
        return int(start.timestamp()), int(end.timestamp())
    utc = dt.timezone.utc
    lo = dt.datetime.combine(start, dt.time(), utc)
    hi = dt.datetime.combine(end, dt.time(23, 59, 59), utc)
    return int(lo.timestamp()), int(hi.timestamp())


def _date_range(name: str, text: str) -> tuple[dt.date, dt.date]:
    try:
        if RANGE_SEPARATOR not in text:
            day = parse_date(text)
            return day, day
        start, end = parse_range(text)
    except ValueError as exc:
        raise QueryError(f"{name}: {exc}") from None
    if isinstance(start, dt.datetime) or isinstance(end, dt.datetime):
        raise QueryError(
            f"{name}: {text!r} must be a date or a date range like 2024-05-01...2024-05-02"
        )
    return start, end


def _id_ranges(name: str, values: Sequence[str]) -> list[tuple[int, int]]:
    out = []
    for value in values:
        if RANGE_SEPARATOR in value:
            lo, _, hi = value.partition(RANGE_SEPARATOR)
            out.append((_int(name, lo), _int(name, hi)))
        else:
            n = _int(name, value)
            out.append((n, n))
    return out


def _sort(text: str | None) -> list[tuple[str, bool]]:
    if not text:
        return []
    out = []
    for part in text.split(","):
        name = part.strip()
        desc = name.startswith("-")
        name = name.lstrip("-")
        if name not in SORT_FIELDS:
            raise QueryError(f"sort: unknown field {name!r}; use one of {', '.join(SORT_FIELDS)}")
        out.append((name, desc))
    return out


def _page(params: Params) -> tuple[int, int]:
    page_text, per_text = _last(params, "page"), _last(params, "per_page")
    page = _int("page", page_text) if page_text else 1
    per_page = _int("per_page", per_text) if per_text else DEFAULT_PER_PAGE
    if page < 1:
        raise QueryError(f"page: {page} must be 1 or more")
    if per_page < 1:
        raise QueryError(f"per_page: {per_page} must be 1 or more")
    return page, min(per_page, MAX_PER_PAGE)


def parse_query(project_id: int, params: Params) -> ImageQuery:
    """Every filter, sort, view and page parameter; raises :class:`QueryError`."""
    q = ImageQuery(project_id=project_id)
    cat = _last(params, "image_category_id")
    q.image_category_id = _int("image_category_id", cat) if cat else None
    for attr in ("created_at", "updated_at"):
        text = _last(params, f"filters[{attr}]")
        if text:
            setattr(q, attr, _time_range(f"filters[{attr}]", text))
    log_date = _last(params, "filters[log_date]")
    q.log_date = _date_range("filters[log_date]", log_date) if log_date else None
    trades = _array(params, "filters[trade_ids]")
    q.trade_ids = {_int("filters[trade_ids][]", t) for t in trades} if trades else None
    locations = _array(params, "filters[location_id]")
    q.location_ids = _id_ranges("filters[location_id][]", locations) if locations else None
    ids = _array(params, "filters[id]")
    q.ids = {_int("filters[id][]", i) for i in ids} if ids else None
    q.include_sublocations = _bool(
        "filters[include_sublocations]", _last(params, "filters[include_sublocations]")
    )
    q.starred = _bool("filters[starred]", _last(params, "filters[starred]"))
    q.private = _bool("filters[private]", _last(params, "filters[private]"))
    q.query = _last(params, "filters[query]") or None
    q.sort = _sort(_last(params, "sort"))
    view = _last(params, "serializer_view") or "normal"
    if view not in SERIALIZER_VIEWS:
        raise QueryError(
            f"serializer_view: unknown view {view!r}; use one of {', '.join(SERIALIZER_VIEWS)}"
        )
    q.view = view
    q.page, q.per_page = _page(params)
    return q


def _location_filter(data: Dataset, q: ImageQuery) -> set[int] | None:
    if q.location_ids is None:
        return None
    wanted: set[int] = set()
    for loc in data.locations[q.project_id]:
        if any(lo <= loc.id <= hi for lo, hi in q.location_ids):
            wanted |= data.descendants(q.project_id, loc.id) if q.include_sublocations else {loc.id}
    return wanted


def _matcher(data: Dataset, q: ImageQuery) -> Callable[[ImageAttrs], bool]:
    cats = data.categories[q.project_id]
    locs = data.locations[q.project_id]
    wanted_locs = _location_filter(data, q)
    needle = q.query.lower() if q.query else None

    def match(a: ImageAttrs) -> bool:
        if q.ids is not None and a.id not in q.ids:
            return False
        if q.image_category_id is not None and cats[a.category].id != q.image_category_id:
            return False
        if q.created_at and not q.created_at[0] <= a.created_at <= q.created_at[1]:
            return False
        if q.updated_at and not q.updated_at[0] <= a.updated_at <= q.updated_at[1]:
            return False
        if q.log_date and not (
            q.log_date[0].isoformat() <= data.log_date(a) <= q.log_date[1].isoformat()
        ):
            return False
        if q.trade_ids is not None and not q.trade_ids.intersection(a.trade_ids):
            return False
        if wanted_locs is not None and locs[a.location].id not in wanted_locs:
            return False
        if (q.starred and not a.starred) or (q.private and not a.private):
            return False
        if needle is not None:
            item = data.render(a, "mobile_feed")
            return needle in f"{item['filename']}\n{item['description']}".lower()
        return True

    return match


def _is_plain(q: ImageQuery) -> bool:
    """No filter and id order: a page is index arithmetic, no scan (100,000 images)."""
    plain_sort = not q.sort or q.sort in ([("id", False)], [("deleted_at", False)])
    return plain_sort and all(
        getattr(q, f) in (None, False)
        for f in (
            "image_category_id",
            "created_at",
            "updated_at",
            "log_date",
            "trade_ids",
            "location_ids",
            "ids",
            "starred",
            "private",
            "query",
        )
    )


def select(data: Dataset, q: ImageQuery) -> tuple[list[ImageAttrs], int]:
    """The images of page ``q.page`` and the total count of matching images."""
    start = (q.page - 1) * q.per_page
    if _is_plain(q):
        total = data.count(q.project_id)
        stop = min(total, start + q.per_page)
        return [data.attrs(q.project_id, i) for i in range(start, stop)], total
    match = _matcher(data, q)
    found = [a for a in data.iter_attrs(q.project_id) if match(a)]
    found.sort(key=lambda a: a.id)
    for name, desc in reversed(q.sort):  # stable sorts, last key first
        found.sort(key=SORT_FIELDS[name], reverse=desc)
    return found[start : start + q.per_page], len(found)


def serialize(data: Dataset, items: Sequence[ImageAttrs], view: str) -> Any:
    if view == "ids_only":
        return [a.id for a in items]
    return [data.render(a, view) for a in items]
