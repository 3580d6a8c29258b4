"""Time for the send path: every wait goes through a :class:`Clock`, so tests never sleep.

``time()`` is wall-clock (compared with ``Retry-After`` dates and ``X-Rate-Limit-Reset``
Unix seconds); ``monotonic()`` measures elapsed time; ``sleep()`` waits.
:class:`CancellableClock` makes every wait of a client (retry backoff, ``Retry-After``,
rate-limit pauses) end as soon as a cancel event is set, raising
:class:`~task_runner.errors.Interrupted`.

Example::

    clock = FakeClock(start=1_700_000_000.0)
    clock.sleep(5)
    assert clock.sleeps == [5] and clock.time() == 1_700_000_005.0
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["CancellableClock", "Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock for tests: ``sleep`` advances time at once and records the wait."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self._mono = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._now += seconds
                self._mono += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (time passing elsewhere)."""
        with self._lock:
            self._now += seconds
            self._mono += seconds


class CancellableClock:
    """``clock`` whose ``sleep`` stops when ``cancel`` is set: it raises
    :class:`~task_runner.errors.Interrupted` instead of waiting on (and before a wait,
    if the event is already set). With the real clock the wait is ``cancel.wait``, so a
    30 s ``Retry-After`` ends within moments of the cancel; any other clock (a test's
    :class:`FakeClock`) sleeps as it does and the event is checked around it.

    Example::

        cancel = threading.Event()
        client = Client(connection, clock=CancellableClock(SystemClock(), cancel))
        # from another thread: cancel.set() -> the client's current wait raises Interrupted
    """

    def __init__(self, clock: Clock, cancel: threading.Event) -> None:
        self.clock = clock
        self.cancel = cancel

    def time(self) -> float:
        return self.clock.time()

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (s); raises Interrupted when cancelled before or during it."""
        self._check(seconds)
        if isinstance(self.clock, SystemClock):
            if seconds > 0 and self.cancel.wait(seconds):
                self._check(seconds)
            return
        self.clock.sleep(seconds)
        self._check(seconds)

    def _check(self, seconds: float) -> None:
        if self.cancel.is_set():
            from task_runner.errors import Interrupted

            raise Interrupted(f"stopped during a wait of {seconds:.1f}s; nothing more is sent")
