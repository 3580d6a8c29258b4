"""One job: hand a task's rows to a dlt destination (``pip install 'task-runner[dlt]'``).

``output: {dlt: {destination: postgres, dataset: procore, table: images, write: merge}}``
runs one dlt pipeline load per task run: warehouses (Postgres, BigQuery, Snowflake,
DuckDB, ...) come from a well-kept loader instead of our code. ``write`` is dlt's
``write_disposition`` (``merge`` upserts on ``primary_key``, default the operation's id
field). Credentials come from dlt's own configuration (``.dlt/secrets.toml`` or
``DESTINATION__POSTGRES__CREDENTIALS``), or from ``credentials`` (write it as
``{{ secrets.X }}``: it is masked everywhere). dlt keeps its pipeline state under
``pipelines_dir`` (default ``.task-runner/dlt``).

The rows reach dlt after secrets are masked, staged as JSONL and streamed from there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from task_runner.errors import OutputError
from task_runner.redact import REDACTOR
from task_runner.sinks import WRITE_MODES, SinkContext, SinkKind, StagedRows, register

__all__ = ["DltSink"]


class DltSink:
    """Rows into ``table`` of ``dataset`` at a dlt ``destination``."""

    def __init__(
        self,
        *,
        destination: str,
        dataset: str,
        table: str,
        write: str,
        primary_key: str | None,
        credentials: Any,
        pipelines_dir: str,
        context: SinkContext,
    ) -> None:
        self.destination = destination
        self.dataset = dataset
        self.table = table
        self.write = write
        self.primary_key = primary_key
        self.credentials = credentials
        self.pipelines_dir = pipelines_dir
        self.context = context
        self.staged = StagedRows(_staging_anchor(pipelines_dir, context.task), context)
        self.load_info: Any = None

    def open(self) -> DltSink:
        self.staged.open()
        return self

    def write_all(self, items: Iterable[Any]) -> None:
        self.staged.write_all(items)

    def commit(self) -> None:
        import dlt

        try:
            self.staged.finish()
            destination: Any = self.destination
            if self.credentials is not None:
                factory = getattr(dlt.destinations, self.destination, None)
                if factory is None:
                    raise OutputError(f"dlt has no destination {self.destination!r}")
                destination = factory(credentials=self.credentials)
            pipeline = dlt.pipeline(
                pipeline_name=_name(f"task_runner_{self.context.task}_{self.dataset}"),
                destination=destination,
                dataset_name=self.dataset,
                pipelines_dir=self.pipelines_dir,
            )
            hints: dict[str, Any] = {"table_name": self.table, "write_disposition": self.write}
            if self.write == "merge" and self.primary_key:
                hints["primary_key"] = self.primary_key
            self.load_info = pipeline.run(self.staged.rows(), **hints)
        except OutputError:
            raise
        except Exception as exc:  # dlt's errors share no base class worth naming
            message = REDACTOR.redact(f"{type(exc).__name__}: {exc}")
            raise OutputError(
                f"dlt load of task {self.context.task!r} into {self.destination}:"
                f"{self.dataset}.{self.table} failed: {message}"
            ) from None
        finally:
            self.staged.discard()

    def abort(self) -> None:
        self.staged.discard()


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _staging_anchor(pipelines_dir: str, task: str) -> Any:
    from pathlib import Path

    return Path(pipelines_dir) / "staging" / _name(task)


def _build(target: str, settings: Mapping[str, Any], context: SinkContext) -> DltSink:
    write = str(settings.get("write") or "append")
    if write not in WRITE_MODES:
        raise OutputError(f"dlt write must be one of {', '.join(WRITE_MODES)}, not {write!r}")
    destination = settings.get("destination")
    if not destination:
        raise OutputError(f"output dlt of task {context.task!r} needs a destination")
    return DltSink(
        destination=str(destination),
        dataset=str(settings.get("dataset") or "task_runner"),
        table=str(settings.get("table") or context.task),
        write=write,
        primary_key=settings.get("primary_key") or context.primary_key,
        credentials=settings.get("credentials") or (target or None),
        pipelines_dir=str(settings.get("pipelines_dir") or ".task-runner/dlt"),
        context=context,
    )


register(
    SinkKind(
        name="dlt",
        build=_build,
        description="Rows to a dlt destination (pip install 'task-runner[dlt]').",
        needs="dlt",
        extra="dlt",
        options={
            "destination": {
                "type": "string",
                "description": "A dlt destination: postgres, duckdb, bigquery, ...",
            },
            "dataset": {"type": "string", "description": "The dataset (schema) name."},
            "table": {"type": "string", "description": "Table name (default: the task's name)."},
            "write": {
                "enum": list(WRITE_MODES),
                "description": "dlt's write_disposition (default append).",
            },
            "primary_key": {"type": "string"},
            "credentials": {
                "type": "string",
                "description": "Destination credentials; write {{ secrets.X }}.",
            },
            "pipelines_dir": {"type": "string"},
        },
    )
)
