"""One job: put a task's items somewhere, whole or not at all.

:class:`JsonlSink` streams items, one JSON line each, to a temp file beside the target
and renames it into place only on success; on failure the temp file is deleted, so a
partial file never appears. Memory stays flat in the number of items.
:func:`drain` empties ``Client.fetch`` into a sink or an in-memory list.

Example::

    with JsonlSink("out/images.jsonl") as sink:
        result = drain(client.fetch(...), sink)
    result.item_count, result.page_count
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from task_runner.errors import OutputError
from task_runner.http.response import Page
from task_runner.http.retry import Attempt
from task_runner.redact import REDACTOR

__all__ = ["DrainResult", "JsonlSink", "drain"]


class JsonlSink:
    """Items as JSON Lines at ``path``, atomically: the file appears only when complete."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.count = 0
        self._file: IO[str] | None = None
        self._tmp: str | None = None

    def open(self) -> JsonlSink:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None
        self._file = os.fdopen(fd, "w", encoding="utf-8")
        return self

    def write(self, item: Any) -> None:
        if self._file is None:
            self.open()
        assert self._file is not None
        line = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        try:
            self._file.write(REDACTOR.redact(line) + "\n")
        except OSError as exc:
            self.abort()
            raise OutputError(f"writing {self.path} failed: {exc.strerror}") from None
        self.count += 1

    def write_all(self, items: Iterable[Any]) -> None:
        for item in items:
            self.write(item)

    def commit(self) -> None:
        """Flush, fsync and rename into place."""
        if self._file is None:
            self.open()
        assert self._file is not None and self._tmp is not None
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"writing {self.path} failed: {exc.strerror}") from None
        self._file = self._tmp = None

    def abort(self) -> None:
        """Drop everything written: the target is left as it was."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
        self._file = self._tmp = None

    def __enter__(self) -> JsonlSink:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


@dataclass
class DrainResult:
    """What a task produced: counts, the last page's status and headers, every attempt.

    ``body`` is the response body when there was one page, else ``None``.
    """

    page_count: int = 0
    item_count: int = 0
    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    items: list[Any] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    elapsed: float = 0.0


def drain(pages: Iterable[Page], sink: JsonlSink | None = None) -> DrainResult:
    """Consume ``pages``: items to ``sink`` when given, else kept in ``result.items``.

    With a sink, only the last page's body is kept, so memory does not grow with items.
    The caller commits or aborts the sink (a ``with`` block does both).
    """
    result = DrainResult(items=None if sink is not None else [])
    for page in pages:
        result.page_count += 1
        result.item_count += len(page.items)
        if sink is not None:
            sink.write_all(page.items)
        else:
            assert result.items is not None
            result.items.extend(page.items)
        result.status, result.reason, result.headers = page.status, page.reason, page.headers
        # One page: its body as it came. Several: ``items`` (or the sink) holds them all.
        result.body = page.body if result.page_count == 1 else None
        result.attempts.extend(page.attempts)
        result.elapsed += page.elapsed
    return result
