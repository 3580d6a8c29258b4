"""One job: pace the requests of one connection before they are sent.

Two brakes, both per connection and shared by every thread using it:

* the server's: responses tell how many requests are left (``X-Rate-Limit-Remaining``)
  until ``X-Rate-Limit-Reset`` (Unix seconds); each request sent counts one down, so
  concurrent requests do not overshoot, and at 0 every request on the connection
  waits for the reset;
* the client's: an optional budget ``RateLimit(requests, per)`` kept as a sliding window.

The state lives in a :class:`BudgetStore` keyed by connection, so that a store shared
across processes or machines (``task_runner.distributed.budget.RedisBudgetStore``) keeps
N workers inside one budget. All times in the store are wall-clock seconds, the only
clock machines share.

Example::

    throttle = Throttle("procore", RateLimit(100, 10), InMemoryBudgetStore(), SystemClock())
    throttle.wait_turn(max_wait=300)
    ...send...
    throttle.observe(response.status, response.headers)
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from task_runner.errors import RetryWaitTooLongError
from task_runner.http.clock import Clock
from task_runner.model import RateLimit, RateLimitHeaders

__all__ = ["BudgetStore", "InMemoryBudgetStore", "Throttle"]

log = logging.getLogger("task_runner.http")

_N = TypeVar("_N", int, float)


class BudgetStore(Protocol):
    """Shared rate-limit state for connections, keyed by connection name."""

    def reserve(self, key: str, limit: RateLimit, now: float) -> float:
        """Take one slot of the client budget if free (0.0), else seconds until one frees."""
        ...

    def observe_server(self, key: str, remaining: int, reset: float) -> None:
        """Record the server's ``X-Rate-Limit-Remaining`` / ``-Reset`` from a response."""
        ...

    def take_server(self, key: str, now: float) -> float:
        """Count one request against the server's budget (0.0), else seconds until reset."""
        ...


@dataclass
class _ServerBudget:
    remaining: int
    reset: float


class InMemoryBudgetStore:
    """A thread-safe store for one process: sliding-window logs and server budgets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, collections.deque[float]] = {}
        self._server: dict[str, _ServerBudget] = {}

    def reserve(self, key: str, limit: RateLimit, now: float) -> float:
        with self._lock:
            window = self._sent.setdefault(key, collections.deque())
            while window and window[0] <= now - limit.per:
                window.popleft()
            if len(window) < limit.requests:
                window.append(now)
                return 0.0
            return max(window[0] + limit.per - now, 1e-3)

    def observe_server(self, key: str, remaining: int, reset: float) -> None:
        with self._lock:
            known = self._server.get(key)
            if known is None or known.reset != reset:
                self._server[key] = _ServerBudget(remaining, reset)
            else:
                # Answers arrive out of order: the lowest count of a window is the truest,
                # and it also covers requests still in flight that we counted ourselves.
                known.remaining = min(known.remaining, remaining)

    def take_server(self, key: str, now: float) -> float:
        with self._lock:
            known = self._server.get(key)
            if known is None or now >= known.reset:
                self._server.pop(key, None)
                return 0.0
            if known.remaining > 0:
                known.remaining -= 1
                return 0.0
            return known.reset - now


class Throttle:
    """Pace one connection: honour server pauses and the optional client budget."""

    def __init__(
        self,
        key: str,
        rate_limit: RateLimit | None,
        store: BudgetStore,
        clock: Clock,
        headers: RateLimitHeaders | None = None,
    ) -> None:
        self.key = key
        self.rate_limit = rate_limit
        self.store = store
        self.clock = clock
        self.names = headers or RateLimitHeaders()

    def wait_turn(self, *, max_wait: float, on_wait: Callable[[float], None] | None = None) -> None:
        """Block until this request may go; a pause beyond ``max_wait`` fails at once."""
        while True:
            wait = self.store.take_server(self.key, self.clock.time())
            reason = f"the server's rate limit is spent ({self.names.remaining}: 0)"
            if wait <= 0 and self.rate_limit is not None:
                wait = self.store.reserve(self.key, self.rate_limit, self.clock.time())
                reason = (
                    f"the connection's rate_limit of {self.rate_limit.requests} requests per "
                    f"{self.rate_limit.per:g}s is spent"
                )
            if wait <= 0:
                return
            if wait > max_wait:
                raise RetryWaitTooLongError(
                    f"{reason}; the next request could go in {wait:.0f}s, longer than the "
                    f"retry policy's max_wait of {max_wait:g}s",
                    hint="raise retry.max_wait or run the task later",
                )
            log.info("connection %s: waiting %.1fs because %s", self.key, wait, reason)
            if on_wait is not None:
                on_wait(wait)
            self.clock.sleep(wait)

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn the server's budget from a response (a 429 means it is spent)."""
        reset = _parse(headers.get(self.names.reset), float)
        remaining = 0 if status == 429 else _parse(headers.get(self.names.remaining), int)
        if reset is None or remaining is None:
            return
        if self.names.reset_format == "delta_seconds":
            reset += self.clock.time()
        if reset == reset and reset > self.clock.time():  # not NaN, not past
            self.store.observe_server(self.key, max(0, remaining), reset)


def _parse(value: str | None, kind: Callable[[str], _N]) -> _N | None:
    """A header as a number, or ``None`` when it is missing or not one."""
    try:
        return kind((value or "").strip())
    except ValueError:
        return None
