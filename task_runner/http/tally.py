"""One job: vouch for a listing, page by page: what the API promised against what came.

A :class:`Tally` sees every page of one task in order. It reads the page's ``Total`` and
``Per-Page`` headers (warning on values that are not non-negative integers), drops items
whose identity (``key``, e.g. ``id``) an earlier item already had, and at the end says
whether it can vouch for the result: :attr:`Tally.complete` is true only when nothing
was capped, the count matches ``Total`` (when the API sends one) and the listing did not
change under the run in a way that may have shifted items between pages.

Its summary is part of every task result (text, ``--output json``, history,
recordings)::

    {"total_reported": 250, "item_count": 250, "duplicates_dropped": 0, "pages": 3,
     "complete": true, "warnings": []}

Example::

    tally = Tally(key="id")
    for page in pages:
        page.items = tally.admit(page.number, page.items, page.headers)
    tally.finish()
    tally.complete, tally.warnings
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from array import array
from bisect import bisect_left
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict

__all__ = [
    "HeaderCount",
    "IdentitySet",
    "Tally",
    "delivery_identity",
    "item_key",
    "read_count_header",
]

log = logging.getLogger("task_runner.http")


@dataclass(frozen=True)
class HeaderCount:
    """A count header as read: ``value`` when valid, ``problem`` (a sentence) when not."""

    value: int | None = None
    problem: str | None = None


def read_count_header(headers: Mapping[str, str], name: str, page: int) -> HeaderCount:
    """``Total`` / ``Per-Page`` as a non-negative integer, or why it cannot be used.

    Absent: ``HeaderCount()``. ``"abc"``, ``"-5"``, ``"1.5"``: a problem naming the header
    and the page, so the caller warns instead of silently planning on a wrong number.
    """
    raw = CaseInsensitiveDict(headers).get(name)
    if raw is None:
        return HeaderCount()
    text = str(raw).strip()
    if text.isascii() and text.isdigit():
        return HeaderCount(int(text))
    shown = text if len(text) <= 40 else text[:40] + "..."
    return HeaderCount(
        problem=f"page {page}: the {name} header {shown!r} is not a non-negative integer; ignored"
    )


_MISSING = object()


def _identity(value: Any) -> Hashable:
    """``value`` as a set member: an ``int`` or ``str`` as itself (``5`` and ``"5"`` stay
    apart; no tuple per item, see :class:`IdentitySet`), anything else tagged."""
    if type(value) is int or type(value) is str:
        return value  # type: ignore[no-any-return]
    return (type(value).__name__, value)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class IdentitySet:
    """The identities a :class:`Tally` has admitted: exact, and compact for integer ids.

    Integer ids (the common case: Procore's ``id``) that fit in 64 bits are kept as
    8-byte machine integers in :data:`SHARDS` sorted ``array("q")`` shards, chosen by the
    id's low bits, so 100,000 ids cost about 0.9 MB instead of the ~7 MB of a ``set`` of
    ``int`` objects; a lookup is one binary search in a shard of ``n / 4096`` ids, an
    insert a ``memmove`` within it. Every other identity (strings, floats, ``None``,
    integers beyond 64 bits, tagged values) goes to an ordinary ``set`` as itself. Both
    are exact: no digest, no false "duplicate", ever.
    """

    #: Number of int shards (a power of two; the id's low bits pick one).
    SHARDS = 4096
    __slots__ = ("_count", "_other", "_shards")

    def __init__(self) -> None:
        self._shards: list[array[int] | None] = [None] * self.SHARDS
        self._other: set[Hashable] = set()
        self._count = 0

    def add(self, identity: Hashable) -> bool:
        """Admit ``identity``; ``True`` when it is new, ``False`` when already present."""
        if type(identity) is int and _INT64_MIN <= identity <= _INT64_MAX:
            index = identity & (self.SHARDS - 1)
            shard = self._shards[index]
            if shard is None:
                self._shards[index] = array("q", (identity,))
                self._count += 1
                return True
            at = bisect_left(shard, identity)
            if at < len(shard) and shard[at] == identity:
                return False
            shard.insert(at, identity)
            self._count += 1
            return True
        if identity in self._other:
            return False
        self._other.add(identity)
        self._count += 1
        return True

    def __contains__(self, identity: object) -> bool:
        if type(identity) is int and _INT64_MIN <= identity <= _INT64_MAX:
            shard = self._shards[identity & (self.SHARDS - 1)]
            if shard is None:
                return False
            at = bisect_left(shard, identity)
            return at < len(shard) and shard[at] == identity
        return identity in self._other

    def __len__(self) -> int:
        return self._count


def item_key(item: Any, key: str | None) -> Hashable | None:
    """The identity of ``item`` for de-duplication, or ``None`` when it has none.

    ``key`` names a field of object items (``"id"``); dotted names reach into nested
    objects (``"data.id"``). Items that are plain scalars (``serializer_view=ids_only``
    gives bare ids) are their own identity.
    """
    if key is None:
        return None
    if isinstance(item, (str, int)) and not isinstance(item, bool):
        return _identity(item)
    value: Any = item
    if type(item) is dict and "." not in key:  # the common case, without the loop
        value = item.get(key, _MISSING)
    else:
        for part in key.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part, _MISSING)
            if value is _MISSING:
                break
    if value is _MISSING:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return _identity(value)
    return None


def delivery_identity(item: Any, key: str | None, version: str | None) -> str | None:
    """A short digest of ``(key, version)`` of ``item``: what a windowed task remembers
    of each item it delivered, so that the next run's overlapping window drops the same
    item at the same version (and delivers it again once it was updated).
    ``None`` when the item has no ``key``."""
    identity = item_key(item, key)
    if identity is None:
        return None
    stamp = item_key(item, version) if version else None
    text = json.dumps([identity, stamp], default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class Tally:
    """Counts and identities of one task's pages (thread-safe; pages arrive in order).

    ``key``: the field that identifies an item (``None``: no de-duplication).
    ``previously``: :func:`delivery_identity` digests that earlier runs delivered (their
    windows overlap this one); such items are dropped and counted in
    ``already_delivered``. ``remember``: collect the digests of what this run delivers
    in ``delivered`` (with ``version`` naming the field that changes on every update).
    """

    key: str | None = "id"
    version: str | None = None
    total_header: str = "Total"
    previously: frozenset[str] = frozenset()
    remember: bool = False
    already_delivered: int = 0
    delivered: set[str] = field(default_factory=set, repr=False)
    total_reported: int | None = None
    item_count: int = 0
    duplicates_dropped: int = 0
    pages: int = 0
    warnings: list[str] = field(default_factory=list)
    capped: str | None = None  # why the listing was stopped on purpose (max_pages)
    totals: list[int] = field(default_factory=list)  # every distinct Total seen, in order
    _seen: IdentitySet = field(default_factory=IdentitySet, repr=False)
    _unkeyed: int = field(default=0, repr=False)
    _unresolved: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def read_total(self, number: int, headers: Mapping[str, str]) -> int | None:
        """Record page ``number``'s ``Total`` (``total_header``; a warning on a bad value)."""
        count = read_count_header(headers, self.total_header, number)
        if count.problem:
            self.warn(count.problem)
        if count.value is not None:
            with self._lock:
                if not self.totals or self.totals[-1] != count.value:
                    self.totals.append(count.value)
                self.total_reported = count.value
        return count.value

    def admit(self, number: int, items: list[Any], headers: Mapping[str, str]) -> list[Any]:
        """Page ``number``'s items less those already delivered (by ``key``), counted."""
        self.read_total(number, headers)
        fresh: list[Any] = []
        dropped = before = 0
        with self._lock:
            self.pages += 1
            for item in items:
                identity = item_key(item, self.key)
                if identity is None:
                    self._unkeyed += 1
                elif not self._seen.add(identity):
                    dropped += 1
                    continue
                if self.previously or self.remember:
                    digest = delivery_identity(item, self.key, self.version)
                    if digest is not None and digest in self.previously:
                        before += 1
                        continue
                    if digest is not None and self.remember:
                        self.delivered.add(digest)
                fresh.append(item)
            self.item_count += len(fresh)
            self.duplicates_dropped += dropped
            self.already_delivered += before
        if dropped:
            self.warn(
                f"page {number}: {dropped} item(s) repeated items of earlier pages "
                f"(same {self.key}); kept once"
            )
        return fresh

    def knows(self, item: Any) -> bool:
        """Whether an item with ``item``'s identity was already delivered."""
        identity = item_key(item, self.key)
        return identity is not None and identity in self._seen

    def warn(self, message: str, *, unresolved: bool = False) -> None:
        """Note something the run could not vouch for; ``unresolved`` makes it incomplete."""
        with self._lock:
            if message not in self.warnings:
                self.warnings.append(message)
            if unresolved and message not in self._unresolved:
                self._unresolved.append(message)

    def finish(self) -> None:
        """Compare what came with what was promised; adds the closing warnings."""
        if self.capped:
            return
        listed = self.item_count + self.already_delivered
        if self.total_reported is not None and listed != self.total_reported:
            missing = self.total_reported - listed
            what = (
                f"{missing} item(s) the API counted were not delivered"
                if missing > 0
                else f"{-missing} more item(s) than the API counted were delivered"
            )
            earlier = (
                f" (+{self.already_delivered} delivered by an earlier run)"
                if self.already_delivered
                else ""
            )
            self.warn(
                f"Total says {self.total_reported} item(s), {self.item_count} delivered"
                f"{earlier}: {what}",
                unresolved=True,
            )
        if len(self.totals) > 1:
            changes = " -> ".join(str(n) for n in self.totals)
            shifted = self.duplicates_dropped > 0 or self.totals[-1] < max(self.totals)
            self.warn(
                f"the listing changed during the run (Total {changes})"
                + (
                    "; items may have moved between pages, so some may have been missed"
                    if shifted
                    else ""
                ),
                unresolved=shifted,
            )
        if self._unkeyed and self.key is not None:
            self.warn(
                f"{self._unkeyed} item(s) have no {self.key!r} field and could not be "
                "checked for duplicates"
            )

    @property
    def complete(self) -> bool:
        """True when every promised item came exactly once and the run was not capped."""
        return self.capped is None and not self._unresolved

    @property
    def mismatches(self) -> list[str]:
        """The warnings that make the result incomplete (what ``on_mismatch`` acts on)."""
        return list(self._unresolved)

    def summary(self) -> dict[str, Any]:
        """The JSON shape every task result carries (see the module docstring)."""
        data: dict[str, Any] = {
            "total_reported": self.total_reported,
            "item_count": self.item_count,
            "duplicates_dropped": self.duplicates_dropped,
            "already_delivered": self.already_delivered,
            "pages": self.pages,
            "complete": self.complete,
            "warnings": list(self.warnings),
        }
        if self.capped:
            data["capped"] = self.capped
        return data
