"""What the emulator saw: thread-safe counters and a request log for test assertions.

``max_requests_in_window(10)`` answers "were there ever more than N requests in any
10-second window?", so throttling tests need no timing of their own::

    assert emulator.max_requests_in_window(10.0) <= 25
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["RequestRecord", "Stats"]


class RequestRecord(NamedTuple):
    time: float  # time.monotonic() when the request arrived
    method: str
    path: str
    status: int  # 0: the connection was reset without a response
    token_id: str | None  # t1, t2...: which access token (never the token itself)
    company_id: str | None
    clock_time: float  # the emulator clock (injectable) when the request arrived
    query: str
    request_no: int | None  # the number fault selectors count (per images / token target)
    fault: str | None  # the fault rule applied, if any
    authorized: bool  # an Authorization header was sent at all


class Stats:
    """Counters per path, per status and per grant type, and the full request log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests_by_path: Counter[str] = Counter()
        self.requests_by_status: Counter[int] = Counter()
        self.token_grants: Counter[str] = Counter()
        self._log: list[RequestRecord] = []

    def record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests_by_path[rec.path] += 1
            self.requests_by_status[rec.status] += 1
            self._log.append(rec)

    def grant(self, grant_type: str) -> None:
        with self._lock:
            self.token_grants[grant_type] += 1

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def max_requests_in_window(
        self,
        seconds: float,
        *,
        path: str | None = "/rest/v1.0/images",
        where: Callable[[RequestRecord], bool] | None = None,
        use_clock: bool = False,
    ) -> int:
        """The most requests (to ``path``; ``None``: any) that fell in any window of
        ``seconds`` (half-open), by monotonic time or, with ``use_clock``, the emulator clock."""
        times = sorted(
            (r.clock_time if use_clock else r.time)
            for r in self.request_log
            if (path is None or r.path == path) and (where is None or where(r))
        )
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= seconds:
                lo += 1
            best = max(best, hi - lo + 1)
        return best
