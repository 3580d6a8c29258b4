"""One job: tell a watcher how far a task has got (pages, items, waits).

The send path calls a :data:`ProgressCallback` with a :class:`ProgressEvent`; the CLI
renders it on stderr when that is a terminal (:class:`TerminalProgress`), anything else
(the scheduler, tests) may pass its own callback or none.

Example::

    client.fetch(request, ..., progress=TerminalProgress(sys.stderr))
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["ProgressCallback", "ProgressEvent", "TerminalProgress"]


@dataclass(frozen=True)
class ProgressEvent:
    """``waiting`` is set (seconds) while the task waits for a retry or a rate limit."""

    task: str | None
    pages_done: int
    pages_total: int | None
    items: int
    waiting: float | None = None


ProgressCallback = Callable[[ProgressEvent], None]


class TerminalProgress:
    """One self-overwriting status line on a terminal; silent on anything else."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        total = f"/{event.pages_total}" if event.pages_total else ""
        line = f"{event.task or 'request'}: page {event.pages_done}{total}, {event.items} items"
        if event.waiting:
            line += f", waiting {event.waiting:.1f}s"
        with self._lock:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            with self._lock:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
