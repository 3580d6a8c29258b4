"""One job: every sink of one task's ``output:``, opened, fed and closed together.

``jsonl`` (through :func:`task_runner.http.sink.make_sink`) and every registered kind
(``duckdb``, ``parquet``, ``csv``, ``dlt``) receive the same rows in the same order. On
success each is committed (each whole or not at all); on failure each is aborted.

Example::

    outputs = TaskOutputs.open(jsonl="out/a.jsonl", sinks={"duckdb": "a.duckdb"},
                               context=SinkContext(task="a"))
    outputs.write_all(rows)
    outputs.commit()
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.http.sink import Sink
from task_runner.http.sink import make_sink as make_jsonl_sink
from task_runner.sinks import SinkContext, make_sink, settings_of

if TYPE_CHECKING:
    from task_runner.runner.result import TaskResult
    from task_runner.workflow.model import Workflow

__all__ = ["TaskOutputs", "item_schema", "record_sinks", "sink_context"]


class TaskOutputs:
    """The open sinks of one task run (possibly none)."""

    def __init__(self, sinks: list[tuple[str, Sink]], jsonl: str | None = None) -> None:
        self.sinks = sinks
        self.jsonl = jsonl
        self.rows = 0  # rows written to each sink

    @classmethod
    def open(
        cls, *, jsonl: str | None, sinks: Mapping[str, Any], context: SinkContext
    ) -> TaskOutputs:
        opened: list[tuple[str, Sink]] = []
        try:
            if jsonl:
                opened.append(("jsonl", make_jsonl_sink("jsonl", str(jsonl)).open()))
            for kind, raw in sinks.items():
                opened.append((kind, make_sink(kind, settings_of(raw), context).open()))
        except BaseException:
            for _, sink in opened:
                with contextlib.suppress(Exception):
                    sink.abort()
            raise
        return cls(opened, jsonl=str(jsonl) if jsonl else None)

    def __bool__(self) -> bool:
        return bool(self.sinks)

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.sinks]

    def write_all(self, rows: Iterable[Any]) -> None:
        batch = rows if isinstance(rows, list) else list(rows)
        self.rows += len(batch)
        for _, sink in self.sinks:
            sink.write_all(batch)

    def commit(self) -> None:
        """Commit each sink in order; on the first failure abort the ones not committed
        and raise it (those committed before stay: each sink is its own unit)."""
        for position, (_, sink) in enumerate(self.sinks):
            try:
                sink.commit()
            except BaseException:
                for _, rest in self.sinks[position + 1 :]:
                    with contextlib.suppress(Exception):
                        rest.abort()
                raise

    def summary(self) -> dict[str, Any]:
        """What each committed sink wrote, by kind: a sink's own ``summary()`` (DuckDB:
        table, rows inserted and updated), else ``{path, rows}``."""
        found: dict[str, Any] = {}
        for kind, sink in self.sinks:
            own = getattr(sink, "summary", None)
            if callable(own):
                found[kind] = own()
                continue
            path = self.jsonl if kind == "jsonl" else getattr(sink, "path", None)
            found[kind] = {"path": None if path is None else str(path), "rows": self.rows}
        return found

    def abort(self) -> None:
        for _, sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.abort()


def record_sinks(
    result: TaskResult, outputs: TaskOutputs, files: Iterable[Mapping[str, Any]] | None = None
) -> None:
    """Put what ``outputs`` (committed) wrote into ``result.sinks`` and the task's output
    (``tasks.NAME.output.sinks``); ``files``: the task's file records, counted under
    ``files`` (see :class:`~task_runner.sinks.files.FilesTally`)."""
    summary = outputs.summary()
    if files is not None:
        from task_runner.sinks.files import FilesTally

        tally = FilesTally()
        for record in files:
            tally.add(record)
        summary["files"] = tally.summary()
    result.sinks = summary
    if result.response is not None:
        result.response["sinks"] = summary


def sink_context(
    workflow: Workflow, task: str, run_id: str, primary_key: str | None
) -> SinkContext:
    """What the sinks of ``task`` know: its key field and, when its response schema is
    stored (``expect.schema: stored``), the schema of one item."""
    return SinkContext(
        task=task,
        run_id=run_id,
        primary_key=primary_key,
        schema=item_schema(workflow, task),
    )


def item_schema(workflow: Workflow, task: str) -> Mapping[str, Any] | None:
    """The saved response schema of one item of ``task`` (an object schema with
    ``properties``), or None when none is saved (see :mod:`task_runner.recording.schema`)."""
    from task_runner.recording.schema import response_schema_path

    try:
        path: Path = response_schema_path(workflow, task)
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(schema, dict) and schema.get("type") == "array":
        schema = schema.get("items")
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        return schema
    return None
