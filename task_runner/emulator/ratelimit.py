"""Procore's two rate-limit windows, per caller and company, and their response headers.

Each budget key (the app's client id and the ``Procore-Company-Id`` sent) has an hourly
window and, optionally, a short spike window. Windows are fixed: they start at the first
request after the previous one ended. The ``X-Rate-Limit-*`` headers describe whichever
limit is closer to running out (fewer remaining; on a tie, the earlier reset).
Requests answered 429 do not spend budget.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["RateLimiter", "RateState"]


@dataclass(frozen=True)
class RateState:
    """What the headers say: the closer limit, what is left of it, and when it resets."""

    limit: int
    remaining: int
    reset: int  # Unix seconds
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset),
        }


class _Window:
    __slots__ = ("count", "length", "limit", "start")

    def __init__(self, limit: int, length: float) -> None:
        self.limit, self.length = limit, length
        self.start: float | None = None
        self.count = 0

    def roll(self, now: float) -> None:
        if self.start is None or now >= self.start + self.length:
            self.start, self.count = now, 0

    def reset_at(self, now: float) -> int:
        return math.ceil((self.start if self.start is not None else now) + self.length)


class RateLimiter:
    """Thread-safe budgets; :meth:`take` spends one request or reports 429."""

    def __init__(
        self,
        hourly_limit: int = 3600,
        spike_limit: int | None = None,
        spike_window: float = 10.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.hourly_limit = hourly_limit
        self.spike_limit = spike_limit
        self.spike_window = spike_window
        self.clock = clock or time.time
        self._lock = threading.Lock()
        self._budgets: dict[Hashable, list[_Window]] = {}

    def _windows(self, key: Hashable) -> list[_Window]:
        windows = self._budgets.get(key)
        if windows is None:
            windows = [_Window(self.hourly_limit, 3600.0)]
            if self.spike_limit is not None:
                windows.append(_Window(self.spike_limit, self.spike_window))
            self._budgets[key] = windows
        return windows

    def take(self, key: Hashable, spend: bool = True) -> RateState:
        """Spend one request from ``key``'s budget if every window has room."""
        with self._lock:
            now = self.clock()
            windows = self._windows(key)
            for w in windows:
                w.roll(now)
            allowed = all(w.count < w.limit for w in windows)
            if allowed and spend:
                for w in windows:
                    w.count += 1
            closest = min(windows, key=lambda w: (w.limit - w.count, w.reset_at(now)))
            return RateState(
                limit=closest.limit,
                remaining=max(0, closest.limit - closest.count),
                reset=closest.reset_at(now),
                allowed=allowed,
            )
