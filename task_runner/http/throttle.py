"""One job: pace the requests of one connection before they are sent.

Two brakes, both per connection and shared by every thread using it:

* the server's: when a response says ``X-Rate-Limit-Remaining: 0``, every request on the
  connection waits until ``X-Rate-Limit-Reset`` (Unix seconds);
* the client's: an optional budget ``RateLimit(requests, per)`` kept as a sliding window.

The state lives in a :class:`BudgetStore` keyed by connection, so that a store shared
across processes or machines (Redis, later) keeps N workers inside one budget. All
times in the store are wall-clock seconds, the only clock machines share.

Example::

    throttle = Throttle("procore", RateLimit(100, 10), InMemoryBudgetStore(), SystemClock())
    throttle.wait_turn(max_wait=300)
    ...send...
    throttle.observe(response.headers)
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from task_runner.errors import RetryWaitTooLongError
from task_runner.http.clock import Clock
from task_runner.model import RateLimit

__all__ = ["BudgetStore", "InMemoryBudgetStore", "Throttle"]

log = logging.getLogger("task_runner.http")


class BudgetStore(Protocol):
    """Shared rate-limit state for connections, keyed by connection name."""

    def reserve(self, key: str, limit: RateLimit, now: float) -> float:
        """Take one slot if free (return 0.0), else return seconds until one frees up."""
        ...

    def block_until(self, key: str, until: float) -> None:
        """The server says the budget is spent until ``until`` (keep the latest)."""
        ...

    def blocked_until(self, key: str) -> float:
        """Wall time until which the server said to pause (0.0: not blocked)."""
        ...


class InMemoryBudgetStore:
    """A thread-safe store for one process: sliding-window logs and server pauses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, collections.deque[float]] = {}
        self._blocked: dict[str, float] = {}

    def reserve(self, key: str, limit: RateLimit, now: float) -> float:
        with self._lock:
            window = self._sent.setdefault(key, collections.deque())
            while window and window[0] <= now - limit.per:
                window.popleft()
            if len(window) < limit.requests:
                window.append(now)
                return 0.0
            return max(window[0] + limit.per - now, 1e-3)

    def block_until(self, key: str, until: float) -> None:
        with self._lock:
            self._blocked[key] = max(until, self._blocked.get(key, 0.0))

    def blocked_until(self, key: str) -> float:
        with self._lock:
            return self._blocked.get(key, 0.0)


class Throttle:
    """Pace one connection: honour server pauses and the optional client budget."""

    def __init__(
        self,
        key: str,
        rate_limit: RateLimit | None,
        store: BudgetStore,
        clock: Clock,
    ) -> None:
        self.key = key
        self.rate_limit = rate_limit
        self.store = store
        self.clock = clock

    def wait_turn(self, *, max_wait: float, on_wait: Callable[[float], None] | None = None) -> None:
        """Block until this request may go; a pause beyond ``max_wait`` fails at once."""
        while True:
            wait = self.store.blocked_until(self.key) - self.clock.time()
            reason = "the server's rate limit is spent (X-Rate-Limit-Remaining: 0)"
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
        """Learn from a response: a spent server budget pauses the whole connection."""
        remaining = headers.get("X-Rate-Limit-Remaining", "").strip()
        if remaining != "0" and status != 429:
            return
        reset = headers.get("X-Rate-Limit-Reset", "").strip()
        try:
            until = float(reset)
        except ValueError:
            return
        if until > self.clock.time():
            self.store.block_until(self.key, until)
