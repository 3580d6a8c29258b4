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
    from task_runner.workflow.model import Workflow

__all__ = ["TaskOutputs", "sink_context"]


class TaskOutputs:
    """The open sinks of one task run (possibly none)."""

    def __init__(self, sinks: list[tuple[str, Sink]]) -> None:
        self.sinks = sinks

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
        return cls(opened)

    def __bool__(self) -> bool:
        return bool(self.sinks)

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.sinks]

    def write_all(self, rows: Iterable[Any]) -> None:
        batch = rows if isinstance(rows, list) else list(rows)
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

    def abort(self) -> None:
        for _, sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.abort()


def sink_context(
    workflow: Workflow, task: str, run_id: str, primary_key: str | None
) -> SinkContext:
    """What the sinks of ``task`` know: its key field and, when its response schema is
    stored (``expect.schema: stored``), the schema of one item."""
    return SinkContext(
        task=task,
        run_id=run_id,
        primary_key=primary_key,
        schema=_item_schema(workflow, task),
    )


def _item_schema(workflow: Workflow, task: str) -> Mapping[str, Any] | None:
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
