"""One job: a task's rows as one Parquet file (pyarrow), with its schema.

``output: {parquet: "out/images-{{ run.id }}.parquet"}``: one file per run when the path
names the run. Column types come from the item schema when there is one, else from the
rows (integers ``int64``, numbers ``double``, booleans, strings; ``date-time`` fields
``timestamp[us, UTC]``); objects and arrays are kept as JSON text (a ``JSON`` column in
DuckDB's and Spark's reading), so a field whose shape varies never breaks a file. Rows
are converted in batches, so memory stays flat; the file appears whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from task_runner.errors import OutputError
from task_runner.sinks import SinkContext, SinkKind, StagedRows, register, replace_atomically

__all__ = ["ParquetSink"]

BATCH_ROWS = 10_000


def arrow_type(sql_type: str) -> Any:
    """The Arrow type of a column type (see :class:`~task_runner.sinks.ColumnTypes`)."""
    import pyarrow as pa

    return {
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
        "DATE": pa.date32(),
    }.get(sql_type, pa.string())


class ParquetSink:
    """Rows as Parquet at ``path``, atomically."""

    def __init__(self, path: str, *, context: SinkContext, compression: str = "zstd") -> None:
        self.path = Path(path)
        self.compression = compression
        self.staged = StagedRows(self.path, context)

    def open(self) -> ParquetSink:
        self.staged.open()
        return self

    def write_all(self, items: Iterable[Any]) -> None:
        self.staged.write_all(items)

    def commit(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        tmp: str | None = None
        try:
            self.staged.finish()
            types = self.staged.columns.types
            schema = pa.schema([(name, arrow_type(t)) for name, t in types.items()])
            convert = {name: _converter(t) for name, t in types.items()}
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            os.close(fd)
            with pq.ParquetWriter(tmp, schema, compression=self.compression) as writer:
                for batch in _batches(self.staged.rows(), BATCH_ROWS):
                    columns = {
                        name: [convert[name](row.get(name)) for row in batch] for name in types
                    }
                    writer.write_table(pa.table(columns, schema=schema))
            replace_atomically(tmp, self.path)
            tmp = None
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise OutputError(f"writing {self.path} failed: {exc}") from None
        finally:
            if tmp is not None:
                os.unlink(tmp)
            self.staged.discard()

    def abort(self) -> None:
        self.staged.discard()


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _converter(sql_type: str) -> Callable[[Any], Any]:
    """How a JSON value becomes a value of the column's Arrow type (see :func:`arrow_type`)."""
    if sql_type in ("JSON", "VARCHAR"):
        return _text
    if sql_type == "TIMESTAMPTZ":
        return lambda v: dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    if sql_type == "DATE":
        return lambda v: dt.date.fromisoformat(v) if isinstance(v, str) else v
    return lambda v: v


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _build(target: str, settings: Mapping[str, Any], context: SinkContext) -> ParquetSink:
    path = target or f"{context.task}-{context.run_id or 'run'}.parquet"
    return ParquetSink(
        path, context=context, compression=str(settings.get("compression") or "zstd")
    )


register(
    SinkKind(
        name="parquet",
        build=_build,
        description="Rows as one Parquet file per run (pyarrow), with their schema.",
        needs="pyarrow",
        extra="parquet",
        options={
            "compression": {
                "enum": ["zstd", "snappy", "gzip", "brotli", "lz4", "none"],
                "description": "Default zstd.",
            }
        },
    )
)
