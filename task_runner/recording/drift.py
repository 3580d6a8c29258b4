"""One job: say how two recordings of a task differ in shape -- fields, status, headers.

Fields come from the JSON Schemas inferred from each recording's items
(:mod:`task_runner.recording.schema`): a field is ``added``, ``removed`` or changed
``type``. What one sample cannot tell is not reported: ``integer`` and ``number`` are
one type (a price of 10 and one of 10.5), ``null`` says nothing about a field's type,
and nothing is said about the inside of a field seen only as ``null`` or as ``[]``.

Headers: ``Content-Type``, ``Per-Page``, the rate-limit ``Limit`` headers and the
``rel`` types of ``Link`` by value; any other header by presence, except per-response
ones (``Date``, ``Content-Length``, ``Set-Cookie``, ...). Counts (items, pages, the
API's ``Total``) are reported but count as drift only when one side is empty.

Example::

    drift = diff_recordings(store.load(a), store.load(b))
    drift.drifted, drift.summary()   # (True, '2 fields changed since ...: removed old_name, added new_name')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from task_runner.recording.schema import infer_schema, recorded_items

__all__ = [
    "Drift",
    "FieldChange",
    "ValueChange",
    "diff_recordings",
    "diff_schemas",
    "field_types",
    "previous_recording",
]

FieldPath = tuple[str, ...]  # ("location", "lat"), ("tags", "[]")
ITEMS = "[]"

#: Headers compared by value: what the body is, and how the API pages and limits.
VALUE_HEADERS = frozenset(
    {"content-type", "per-page", "x-rate-limit-limit", "x-ratelimit-limit", "ratelimit-limit"}
)
#: Headers whose presence depends on the one response, not on the API: never drift.
PER_RESPONSE_HEADERS = frozenset(
    {
        "date",
        "age",
        "expires",
        "last-modified",
        "etag",
        "set-cookie",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "retry-after",
        "server-timing",
        "content-encoding",
    }
)


def _show_path(path: FieldPath) -> str:
    text = ""
    for part in path:
        text += part if part == ITEMS else ("." if text else "") + part
    return text or "(item)"


@dataclass(frozen=True)
class FieldChange:
    """One field: ``added`` / ``removed`` (its type in ``after`` / ``before``) or ``type``."""

    path: str
    change: Literal["added", "removed", "type"]
    before: str | None
    after: str | None

    def describe(self) -> str:
        if self.change == "type":
            return f"{self.path}: {self.before} -> {self.after}"
        return f"{self.change} {self.path}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class ValueChange:
    """A status, header or count that differs (``None``: absent on that side)."""

    name: str
    before: Any
    after: Any

    def describe(self) -> str:
        def side(value: Any) -> str:
            return "(absent)" if value is None else str(value)

        return f"{self.name}: {side(self.before)} -> {side(self.after)}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "before": self.before, "after": self.after}


# --- fields ----------------------------------------------------------------------------


def _types(schema: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    raw = schema.get("type")
    for name in [raw] if isinstance(raw, str) else list(raw or ()):
        found.add("number" if name == "integer" else str(name))
    for branch in schema.get("anyOf") or ():
        if isinstance(branch, Mapping):
            found |= _types(branch)
    return found


def _branches(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    branches = [b for b in schema.get("anyOf") or () if isinstance(b, Mapping)]
    return [schema, *branches]


def field_types(
    schema: Mapping[str, Any],
) -> tuple[dict[FieldPath, frozenset[str]], set[FieldPath]]:
    """``({field path: its types, null left out}, {paths whose inside is unknown})``."""
    types: dict[FieldPath, frozenset[str]] = {}
    opaque: set[FieldPath] = set()

    def walk(node: Mapping[str, Any], path: FieldPath) -> None:
        seen = _types(node)
        types[path] = frozenset(seen - {"null"})
        if not seen - {"null"}:
            opaque.add(path)
        has_items = False
        for branch in _branches(node):
            for name, sub in (branch.get("properties") or {}).items():
                if isinstance(sub, Mapping):
                    walk(sub, (*path, str(name)))
            if isinstance(branch.get("items"), Mapping):
                has_items = True
                walk(branch["items"], (*path, ITEMS))
        if "array" in seen and not has_items:
            opaque.add(path)  # only [] seen: what its elements are is unknown

    walk(schema, ())
    return types, opaque


def _label(types: frozenset[str]) -> str:
    return "|".join(sorted(types)) or "null"


def diff_schemas(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """Fields added, removed and changed type from ``before`` to ``after``, by path."""
    old, old_opaque = field_types(before)
    new, new_opaque = field_types(after)
    unknown = old_opaque | new_opaque
    changes: list[FieldChange] = []
    for path in sorted(old.keys() | new.keys()):
        if any(path[:n] in unknown for n in range(len(path))):
            continue  # inside something one side saw only as null or []
        shown = _show_path(path)
        if path not in new:
            changes.append(FieldChange(shown, "removed", _label(old[path]), None))
        elif path not in old:
            changes.append(FieldChange(shown, "added", None, _label(new[path])))
        elif old[path] and new[path] and old[path] != new[path]:
            changes.append(FieldChange(shown, "type", _label(old[path]), _label(new[path])))
    return changes


# --- recordings ------------------------------------------------------------------------


def _shown_response(recording: Mapping[str, Any]) -> Mapping[str, Any]:
    """The response a person looks at: the refused one, else the first page."""
    responses = [r for r in recording.get("responses") or () if isinstance(r, Mapping)]
    if not responses:
        return {}
    return responses[-1] if not responses[-1].get("accepted", True) else responses[0]


def _headers(response: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}


def _link_rels(value: str) -> str:
    """``first, last, next``: what a Link header offers, not its page URLs."""
    from task_runner.http.links import LinkHeaderError, parse_link_header

    try:
        rels = {rel for link in parse_link_header(value) for rel in link.rels}
    except LinkHeaderError:  # an unreadable Link: compare its text instead
        return value
    return "rel " + ", ".join(sorted(rels))


def _header_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[ValueChange]:
    changes: list[ValueChange] = []
    for name in sorted(before.keys() | after.keys()):
        if name in PER_RESPONSE_HEADERS:
            continue
        old, new = before.get(name), after.get(name)
        if name == "link" and old is not None and new is not None:
            old, new = _link_rels(old), _link_rels(new)
        elif name not in VALUE_HEADERS and old is not None and new is not None:
            continue  # present on both sides: its value is this response's own
        if old != new:
            changes.append(ValueChange(name, old, new))
    return changes


@dataclass(frozen=True)
class Side:
    """One recording as the report names it."""

    path: str | None
    recorded_at: str
    status: int | None
    items: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "recorded_at": self.recorded_at, "status": self.status}


@dataclass(frozen=True)
class Drift:
    before: Side
    after: Side
    fields: tuple[FieldChange, ...] = ()
    fields_compared: bool = True  # False: a side has no items to infer fields from
    status: ValueChange | None = None
    headers: tuple[ValueChange, ...] = ()
    counts: tuple[ValueChange, ...] = field(default=())

    @property
    def emptied(self) -> bool:
        """Items on one side only: a listing that came back empty, or no longer is."""
        return (self.before.items == 0) != (self.after.items == 0)

    @property
    def drifted(self) -> bool:
        return bool(self.fields or self.status or self.headers or self.emptied)

    def summary(self) -> str:
        """One line: ``3 fields changed since <time>: removed a, added b, c: number -> string``."""
        parts: list[str] = []
        if self.fields:
            listed = ", ".join(f.describe() for f in self.fields[:4])
            more = ", ..." if len(self.fields) > 4 else ""
            parts.append(f"{_count(len(self.fields), 'field')} changed ({listed}{more})")
        if self.status:
            parts.append(f"status {self.status.before} -> {self.status.after}")
        if self.headers:
            parts.append(f"{_count(len(self.headers), 'header')} changed")
        if self.emptied:
            parts.append(f"items {self.before.items} -> {self.after.items}")
        since = f"since {self.before.recorded_at or self.before.path}"
        return f"{'; '.join(parts)} {since}" if parts else f"no drift {since}"

    def lines(self) -> list[str]:
        """The report for a person."""
        out = [
            f"before: {self.before.path or '-'}  ({self.before.recorded_at})",
            f"after:  {self.after.path or '-'}  ({self.after.recorded_at})",
        ]
        if not self.fields_compared:
            out.append("fields: not compared (a recording has no items)")
        elif self.fields:
            out.append(f"fields: {_count(len(self.fields), 'change')}")
            marks = {"added": "+", "removed": "-", "type": "~"}
            for change in self.fields:
                detail = change.after if change.change == "added" else change.before
                text = change.describe() + ("" if change.change == "type" else f" ({detail})")
                out.append(f"  {marks[change.change]} {text}")
        else:
            out.append("fields: the same")
        out.append(self.status.describe() if self.status else f"status: {self.after.status}")
        if self.headers:
            out.append(f"headers: {_count(len(self.headers), 'change')}")
            out.extend(f"  {h.describe()}" for h in self.headers)
        else:
            out.append("headers: the same")
        out.extend(f"count {c.describe()}" for c in self.counts)
        out.append("drifted" if self.drifted else "no drift")
        return out

    def to_json(self) -> dict[str, Any]:
        by_kind = {
            kind: [f.to_json() for f in self.fields if f.change == kind]
            for kind in ("added", "removed", "type")
        }
        return {
            "drifted": self.drifted,
            "summary": self.summary(),
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "fields_compared": self.fields_compared,
            "fields": by_kind,
            "status": self.status.to_json() if self.status else None,
            "headers": [h.to_json() for h in self.headers],
            "counts": [c.to_json() for c in self.counts],
        }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _side(recording: Mapping[str, Any], path: str | None, items: int) -> Side:
    status = _shown_response(recording).get("status")
    return Side(
        path,
        str(recording.get("recorded_at", "")),
        status if isinstance(status, int) else None,
        items,
    )


def _counts(
    before: Mapping[str, Any], after: Mapping[str, Any], items: tuple[int, int]
) -> list[ValueChange]:
    def pages(recording: Mapping[str, Any]) -> int:
        return sum(1 for r in recording.get("responses") or () if r.get("accepted", True))

    def total(recording: Mapping[str, Any]) -> str | None:
        return _headers(_shown_response(recording)).get("total")

    found = [
        ValueChange("items", *items),
        ValueChange("pages", pages(before), pages(after)),
        ValueChange("Total", total(before), total(after)),
    ]
    return [c for c in found if c.before != c.after]


def diff_recordings(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    before_path: str | None = None,
    after_path: str | None = None,
) -> Drift:
    """How ``after`` differs from ``before`` (two recordings of one task, usually)."""
    old_items, new_items = recorded_items(before), recorded_items(after)
    compared = bool(old_items) and bool(new_items)
    fields = diff_schemas(infer_schema(old_items), infer_schema(new_items)) if compared else []
    old_status = _side(before, before_path, len(old_items))
    new_status = _side(after, after_path, len(new_items))
    status = None
    if old_status.status != new_status.status:
        status = ValueChange("status", old_status.status, new_status.status)
    headers = _header_changes(_headers(_shown_response(before)), _headers(_shown_response(after)))
    return Drift(
        before=old_status,
        after=new_status,
        fields=tuple(fields),
        fields_compared=compared,
        status=status,
        headers=tuple(headers),
        counts=tuple(_counts(before, after, (len(old_items), len(new_items)))),
    )


def previous_recording(paths: Iterable[Path], current: Path | None) -> Path | None:
    """The recording before ``current`` among ``paths`` (oldest first; all of them when
    ``current`` is not one), or None."""
    earlier: Path | None = None
    for path in paths:
        if path == current:
            return earlier
        earlier = path
    return earlier
