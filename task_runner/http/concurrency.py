"""One job: decide how many pages of a walk may be in flight, from what the API says.

When a task does not fix ``paginate.max_concurrency``, the page walk asks an
:class:`AdaptiveConcurrency` how many requests to keep in flight, and tells it how each
page went. The rules, in the spirit of TCP congestion control (RFC 5681 slow start and
AIMD) applied to an API's rate budget:

* **start modest**: :data:`START` requests in flight;
* **grow while the budget allows**: the window doubles after each window of pages that
  came back cleanly (slow start), then grows by one per window once it has backed off
  once (congestion avoidance), up to the ceiling (the connection's ``max_concurrency``
  when set, else :data:`CEILING`);
* **follow the rate budget**: never more in flight than a quarter of the requests the
  server says are left (``X-Rate-Limit-Remaining``, or the API profile's header), and
  halve the window when less than a tenth of the budget (``X-Rate-Limit-Limit``) is left,
  so a short spike window (Procore's is 10 seconds) is not emptied in one burst;
* **back off on refusals**: a ``429 Too Many Requests`` or ``503 Service Unavailable``
  among a page's attempts halves the window (at least 1) and ends slow start, once per
  window (the pages already in flight bring the same news);
* **back off on latency**: when pages take more than :data:`LATENCY_FACTOR` times the
  fastest page seen (the server or the client is saturated), the window shrinks by one
  instead of growing, and slow start ends.

The throttle (:mod:`task_runner.http.throttle`) still paces every request against the
budget shared by the connection's runs; this only decides how much to ask for at once.

Example::

    window = AdaptiveConcurrency(ceiling=10, headers=RateLimitHeaders())
    window.limit                       # 4
    window.observe(page)               # after each page
    window.limit                       # 8 after four clean pages
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

from task_runner.model import RateLimitHeaders

__all__ = ["CEILING", "LATENCY_FACTOR", "START", "AdaptiveConcurrency", "limit_header"]

#: Requests in flight when a walk starts.
START = 4
#: The most requests in flight when neither the task nor the connection sets a maximum.
CEILING = 10
#: Pages slower than this many times the fastest page stop the window from growing.
LATENCY_FACTOR = 3.0
#: Latency below this (seconds) never counts as slow: a loopback or LAN API answers in
#: microseconds, and scheduling noise would otherwise look like a tripled latency.
LATENCY_FLOOR = 0.025
#: Statuses that say "too much at once" (RFC 6585 section 4, RFC 9110 section 15.6.4).
BACK_OFF_STATUSES = frozenset({429, 503})
#: Window sizes kept in :attr:`AdaptiveConcurrency.history` (the latest; a walk of a
#: million pages must not keep a million of them).
HISTORY = 256

log = logging.getLogger("task_runner.http")


class _Attempt(Protocol):
    @property
    def status(self) -> int | None: ...


class _Page(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def attempts(self) -> Sequence[_Attempt]: ...


def limit_header(headers: RateLimitHeaders) -> str:
    """The header with the budget's size, named like the ``remaining`` one:
    ``X-Rate-Limit-Limit`` beside ``X-Rate-Limit-Remaining`` (Procore), ``RateLimit-Limit``
    beside ``RateLimit-Remaining`` (the IETF draft)."""
    name = headers.remaining
    at = name.lower().rfind("remaining")
    return f"{name[:at]}Limit{name[at + len('remaining') :]}" if at >= 0 else ""


class AdaptiveConcurrency:
    """The window of one page walk; thread-safe (pages finish on worker threads)."""

    def __init__(
        self,
        *,
        ceiling: int = CEILING,
        start: int = START,
        headers: RateLimitHeaders | None = None,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self._window = float(min(max(1, start), self.ceiling))
        self.names = headers or RateLimitHeaders()
        self._limit_name = limit_header(self.names)
        self._lock = threading.Lock()
        self._slow_start = True
        self._clean = 0  # clean pages since the window last grew
        self._hold = 0  # pages to come back before the window may be halved again
        self._fastest: float | None = None
        self._budget_cap: int | None = None
        self._limit = 1
        self._settle()
        #: The window sizes the walk went through, in order (the latest :data:`HISTORY`).
        self.history: collections.deque[int] = collections.deque([self.limit], maxlen=HISTORY)

    @property
    def limit(self) -> int:
        """How many requests may be in flight now (at least 1)."""
        return self._limit

    def _settle(self) -> int:
        window = int(self._window)
        if self._budget_cap is not None:
            window = min(window, self._budget_cap)
        self._limit = max(1, min(window, self.ceiling))
        return self._limit

    def observe(self, page: _Page) -> None:
        """Learn from a page that came back: its attempts, latency and budget headers."""
        with self._lock:
            before = self.limit
            self._hold = max(0, self._hold - 1)
            refused = any(a.status in BACK_OFF_STATUSES for a in page.attempts)
            if refused:
                self._shrink(0.5)
            else:
                self._budget(page.headers)
                if self._slow(page.elapsed):
                    self._shrink_by_one()
                else:
                    self._grow()
            if self._settle() != before:
                self.history.append(self._limit)
                log.debug("pages in flight: %d -> %d", before, self._limit)

    def _budget(self, headers: Mapping[str, str]) -> None:
        remaining = _number(_get(headers, self.names.remaining))
        if remaining is None:
            self._budget_cap = None
            return
        self._budget_cap = max(1, remaining // 4)
        size = _number(_get(headers, self._limit_name)) if self._limit_name else None
        if size and remaining < size / 10:
            self._shrink(0.5)

    def _slow(self, elapsed: float) -> bool:
        if elapsed <= 0:
            return False
        if self._fastest is None or elapsed < self._fastest:
            self._fastest = elapsed
            return False
        return elapsed > max(LATENCY_FLOOR, self._fastest * LATENCY_FACTOR)

    def _grow(self) -> None:
        self._clean += 1
        window = int(self._window)
        if self._clean < window:
            return
        self._clean = 0
        grown = window * 2 if self._slow_start else window + 1
        self._window = float(min(grown, self.ceiling))

    def _shrink(self, factor: float) -> None:
        """Multiplicative decrease, once per window: the pages that were already in
        flight when it happened come back with the same news and do not count again."""
        self._slow_start = False
        self._clean = 0
        if self._hold:
            return
        self._hold = self._limit
        self._window = max(1.0, float(int(self._window * factor)))

    def _shrink_by_one(self) -> None:
        self._slow_start = False
        self._clean = 0
        self._window = max(1.0, self._window - 1)


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, found in headers.items():
        if key.lower() == lowered:
            return found
    return None


def _number(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
