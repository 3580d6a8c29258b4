"""One job: load a task's rows into a DuckDB table, in one transaction.

``output: {duckdb: {path: procore.duckdb, table: images, write: merge, primary_key: id}}``

- the table (default: the task's name) is created on first load, its columns from the
  item schema when the task has one, else from the rows; a field that appears later
  adds a column (``ALTER TABLE ... ADD COLUMN``); objects and arrays are ``JSON``;
- ``write: merge`` (the default) upserts on ``primary_key`` (default: the operation's
  id field): rows whose key is already there are replaced, so overlapping windows never
  duplicate a row; within one load the last row of a key wins; a row without the key is
  an error. ``append`` inserts; ``replace`` swaps the table's content;
- everything (DDL included, which DuckDB runs in transactions) happens in ONE transaction:
  a failure or a killed process leaves the table as it was before the load.

Rows are staged as JSONL (secrets masked) and read by DuckDB's own ``read_json`` with the
column types given, so the load runs at DuckDB's bulk-insert speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from task_runner.errors import OutputError
from task_runner.sinks import WRITE_MODES, SinkContext, SinkKind, StagedRows, register

__all__ = ["DuckDBSink", "quote_identifier"]


def quote_identifier(name: str) -> str:
    """``name`` as a SQL identifier: in double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBSink:
    """Rows into ``table`` of the DuckDB database at ``path`` (see the module docstring)."""

    def __init__(
        self,
        path: str,
        *,
        table: str,
        write: str = "merge",
        primary_key: str | None = None,
        context: SinkContext,
    ) -> None:
        if write not in WRITE_MODES:
            raise OutputError(
                f"duckdb write must be one of {', '.join(WRITE_MODES)}, not {write!r}"
            )
        if write == "merge" and not primary_key:
            raise OutputError(
                f"duckdb output of task {context.task!r}: write: merge needs a primary_key",
                hint="name the field that identifies a row (primary_key: id) or use write: append",
            )
        self.path = Path(path)
        self.table = table
        self.write = write
        self.primary_key = primary_key
        self.context = context
        self.staged = StagedRows(self.path, context)
        self.loaded = 0
        self.replaced = 0  # merge: rows of earlier loads this one updated
        # merge: the keys of this load (DELETE ... IN them), and whether one repeats
        self._keys: set[Any] = set()
        self._repeats = False

    def open(self) -> DuckDBSink:
        self.staged.open()
        return self

    def write_all(self, items: Iterable[Any]) -> None:
        rows = items if isinstance(items, list) else list(items)
        self.staged.write_all(rows)
        if self.write == "merge":
            keys, name = self._keys, self.primary_key
            for row in rows:
                key = row.get(name) if isinstance(row, dict) else None
                if key in keys:
                    self._repeats = True
                elif isinstance(key, (int, str)):
                    keys.add(key)
                else:
                    self._repeats = True  # an odd key: let SQL dedupe (and refuse a NULL)

    def commit(self) -> None:
        """Load the staged rows in one transaction; :class:`OutputError` (the table left
        as it was) when DuckDB refuses them."""
        import duckdb

        try:
            staged = self.staged.finish()
            try:
                con = duckdb.connect(str(self.path))
            except duckdb.Error as exc:
                raise OutputError(
                    f"cannot open the DuckDB database {self.path}: {exc}",
                    hint="another process may have it open (DuckDB allows one writer)",
                ) from None
            try:
                self._load(con, staged)
            except duckdb.Error as exc:
                con.rollback()
                raise OutputError(
                    f"loading {self.staged.count} row(s) into {self.path}:{self.table} failed, "
                    f"nothing was written: {exc}"
                ) from None
            finally:
                con.close()
        finally:
            self.staged.discard()

    def abort(self) -> None:
        self.staged.discard()

    def summary(self) -> dict[str, Any]:
        """What the committed load did: ``{path, table, write, rows, inserted, updated}``
        (``updated``: rows whose key an earlier load had, replaced by ``merge``)."""
        return {
            "path": str(self.path),
            "table": self.table,
            "write": self.write,
            "rows": self.loaded,
            "inserted": self.loaded - self.replaced,
            "updated": self.replaced,
        }

    # --- the load -------------------------------------------------------------------

    def _load(self, con: Any, staged: Path) -> None:
        table = quote_identifier(self.table)
        con.begin()
        existing = self._existing_columns(con)
        wanted = dict(self.staged.columns.types)
        keyless = self.primary_key and self.primary_key not in wanted
        if keyless and self.write == "merge" and self.staged.count:
            from task_runner.errors import did_you_mean

            fields = sorted(wanted)
            raise OutputError(
                f"the rows of task {self.context.task!r} have no field "
                f"{self.primary_key!r} to merge on (they have {', '.join(fields[:20])}"
                f"{', ...' if len(fields) > 20 else ''}); nothing was loaded",
                hint=did_you_mean(str(self.primary_key), fields)
                or "set output.duckdb.primary_key to a field the rows have",
            )
        if not wanted and not existing:
            con.commit()  # nothing to load and nothing to create a table from
            return
        if existing is None or self.write == "replace":
            columns = ", ".join(f"{quote_identifier(c)} {t}" for c, t in wanted.items())
            verb = "CREATE OR REPLACE TABLE" if existing is not None else "CREATE TABLE"
            if existing is not None and not wanted:
                con.execute(f"DELETE FROM {table}")
                con.commit()
                return
            con.execute(f"{verb} {table} ({columns})")
            existing = dict(wanted)
        for column, sql_type in wanted.items():
            if column not in existing:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {quote_identifier(column)} {sql_type}")
        if self.staged.count:
            source = self._stage(con, staged, {c: existing.get(c, t) for c, t in wanted.items()})
            if self.write == "merge":
                self._merge(con, table, source)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {source}")
            self.loaded = self.staged.count
        con.commit()

    def _existing_columns(self, con: Any) -> dict[str, str] | None:
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
            [self.table],
        ).fetchall()
        return {str(name): str(kind) for name, kind in rows} if rows else None

    def _stage(self, con: Any, staged: Path, types: Mapping[str, str]) -> str:
        """What to insert: the staged file read with the column types, or (a merge whose
        load repeats a key) a temp table keeping the last row of each key."""
        columns = "{" + ", ".join(f"{_literal(c)}: {_literal(t)}" for c, t in types.items()) + "}"
        source = (
            f"read_json({_literal(str(staged))}, format = 'newline_delimited', columns = {columns})"
        )
        if self.write != "merge" or not self._repeats:
            return source
        key = quote_identifier(str(self.primary_key))
        # The last row of a key wins (a later page saw the newer version).
        con.execute(
            "CREATE TEMP TABLE _task_runner_stage AS SELECT * EXCLUDE (_task_runner_n) FROM "
            f"(SELECT *, row_number() OVER () AS _task_runner_n FROM {source}) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _task_runner_n DESC) = 1"
        )
        missing = con.execute(
            f"SELECT count(*) FROM _task_runner_stage WHERE {key} IS NULL"
        ).fetchall()[0][0]
        if missing:
            raise OutputError(
                f"{missing} row(s) of task {self.context.task!r} have no {self.primary_key!r} "
                "to merge on; nothing was written",
                hint="set output.duckdb.primary_key to a field every row has, or write: append",
            )
        return "_task_runner_stage"

    def _merge(self, con: Any, table: str, source: str) -> None:
        """Delete the rows whose key this load brings (the insert that follows puts the
        new versions in, in the same transaction)."""
        key = quote_identifier(str(self.primary_key))
        if (
            con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)").fetchall()[0][0]
            == 0
        ):
            return  # an empty table: nothing to replace
        if source == "_task_runner_stage":
            self.replaced = _count(
                con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {source})")
            )
            return
        try:
            import pyarrow as pa
        except ImportError:  # the parquet extra is not installed: a list parameter
            self.replaced = _count(
                con.execute(
                    f"DELETE FROM {table} WHERE {key} IN (SELECT unnest(?))", [list(self._keys)]
                )
            )
            return
        # An Arrow column joins ~6x faster than a 100,000-element list parameter.
        con.register("_task_runner_keys", pa.table({"k": pa.array(list(self._keys))}))
        try:
            self.replaced = _count(
                con.execute(
                    f"DELETE FROM {table} USING _task_runner_keys WHERE {table}.{key} = _task_runner_keys.k"
                )
            )
        finally:
            con.unregister("_task_runner_keys")


def _count(cursor: Any) -> int:
    """The row count a DuckDB ``DELETE`` answers."""
    rows = cursor.fetchall()
    return int(rows[0][0]) if rows and rows[0] else 0


def _build(target: str, settings: Mapping[str, Any], context: SinkContext) -> DuckDBSink:
    return DuckDBSink(
        target or "task-runner.duckdb",
        table=str(settings.get("table") or context.task),
        write=str(settings.get("write") or "merge"),
        primary_key=settings.get("primary_key") or context.primary_key,
        context=context,
    )


register(
    SinkKind(
        name="duckdb",
        build=_build,
        description="Rows into a DuckDB table (a table per task, merged on its key).",
        needs="duckdb",
        extra="duckdb",
        options={
            "table": {"type": "string", "description": "Table name (default: the task's name)."},
            "write": {
                "enum": list(WRITE_MODES),
                "description": "merge (default): upsert on primary_key; append; replace.",
            },
            "primary_key": {
                "type": "string",
                "description": "The field that identifies a row (default: the operation's id).",
            },
        },
    )
)
