"""One job: put a task's items somewhere, whole or not at all.

:class:`JsonlSink` streams items, one JSON line each, to a temp file beside the target
and renames it into place only on success; on failure the temp file is deleted, so a
partial file never appears. Memory stays flat in the number of items. Each page is
encoded once (:func:`task_runner.jsonfast.lines`: orjson when installed, byte-identical
output without it) and written with one ``write`` call. Secrets are masked in the items'
strings before they are serialised (never in the JSON text, which would miss escaped
secrets and could break the syntax), so every line is valid JSON; a page is first
searched for any secret with plain substring scans, and only the items where one shows
are masked and encoded again.
:func:`drain` empties ``Client.fetch`` into a sink or an in-memory list.

Example::

    with JsonlSink("out/images.jsonl") as sink:
        result = drain(client.fetch(...), sink)
    result.item_count, result.page_count
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from task_runner import jsonfast
from task_runner.errors import OutputError
from task_runner.http.response import Page
from task_runner.http.retry import Attempt
from task_runner.redact import REDACTOR, Redactor

__all__ = ["SINKS", "DrainResult", "JsonlSink", "Sink", "drain", "make_sink", "register_sink"]

#: ``write_all`` encodes and writes this many items at a time: one check for secrets and
#: one ``write`` call per batch, while memory stays flat for an endless iterable.
BATCH_SIZE = 1000


class JsonlSink:
    """Items as JSON Lines at ``path``, atomically: the file appears only when complete."""

    def __init__(self, path: str | os.PathLike[str], *, redactor: Redactor = REDACTOR) -> None:
        self.path = Path(path)
        self.count = 0
        self.redactor = redactor
        self._file: IO[bytes] | None = None
        self._tmp: str | None = None

    def open(self) -> JsonlSink:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from None
        self._file = os.fdopen(fd, "wb")
        return self

    def write(self, item: Any) -> None:
        self.write_page([item])

    def write_all(self, items: Iterable[Any]) -> None:
        iterator = iter(items)
        while batch := list(itertools.islice(iterator, BATCH_SIZE)):
            self.write_page(batch)

    def write_page(self, items: Sequence[Any]) -> None:
        """Write ``items``, one line each, with secrets masked in their strings."""
        if self._file is None:
            self.open()
        assert self._file is not None
        text = self._encode(items)
        try:
            self._file.write(text)
        except OSError as exc:
            self.abort()
            raise OutputError(f"writing {self.path} failed: {exc.strerror}") from None
        self.count += len(items)

    def _encode(self, items: Sequence[Any]) -> bytes:
        # Nearly every page holds no secret: serialise once, look for any secret's
        # JSON-escaped form in the whole page, and mask only the items where one is.
        lines = jsonfast.lines(items)
        data = b"".join(lines)
        if not data or not self.redactor:
            return data
        offsets = self.redactor.json_secret_offsets(data.decode("utf-8"))
        if not offsets:
            return data
        # An escaped form holds no raw newline, so each offset falls inside one line;
        # offsets count characters, so the line ends do too.
        ends = list(itertools.accumulate(len(line.decode("utf-8")) for line in lines))
        for index in {bisect.bisect_right(ends, at) for at in offsets}:
            lines[index] = jsonfast.dumps_line(self.redactor.redact_json_value(items[index]))
        return b"".join(lines)

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


class Sink(Protocol):
    """Where a task's items go, whole or not at all: ``open``, ``write_all`` each page's
    items, then ``commit`` (publish) or ``abort`` (leave the target as it was)."""

    def open(self) -> Sink: ...
    def write_all(self, items: Iterable[Any]) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


#: Sink kinds by name (the key under a task's ``output:``); a factory takes the target.
SINKS: dict[str, Callable[[str], Sink]] = {}


def register_sink(name: str) -> Callable[[Callable[[str], Sink]], Callable[[str], Sink]]:
    """Register a sink factory as ``output: {NAME: TARGET}``::

    @register_sink("csv")
    def _csv(target: str) -> Sink:
        return CsvSink(target)
    """

    def decorate(factory: Callable[[str], Sink]) -> Callable[[str], Sink]:
        SINKS[name] = factory
        return factory

    return decorate


def make_sink(name: str, target: str) -> Sink:
    """The sink ``name`` writing to ``target``; :class:`OutputError` naming the known ones."""
    if name not in SINKS:
        _load_sink_kinds()
    try:
        factory = SINKS[name]
    except KeyError:
        known = ", ".join(sorted(SINKS))
        raise OutputError(f"unknown output kind {name!r} (known: {known})") from None
    return factory(target)


@register_sink("jsonl")
def _jsonl(target: str) -> Sink:
    return JsonlSink(target)


def _load_sink_kinds() -> None:
    """Register the sinks of :mod:`task_runner.sinks` (duckdb, parquet, csv, dlt) on first
    use; their libraries are imported only when one of them opens."""
    import task_runner.sinks  # noqa: F401
