"""Output sinks beyond JSONL: a database, columnar files, a spreadsheet, a warehouse.

Every kind is registered in the one :data:`task_runner.http.sink.SINKS` registry (by
:func:`register`, which also keeps its settings schema for the workflow schema), so
``output: {duckdb: ...}`` finds it the way ``output: {jsonl: ...}`` does. Each sink
stages the task's items, secrets masked, in a JSONL file beside its target
(:class:`StagedRows`, built on :class:`~task_runner.http.sink.JsonlSink`), and loads
them on ``commit`` in one go: one DuckDB transaction, one Parquet or CSV file renamed
into place, one dlt load. ``abort`` (or a killed process) leaves the target as it was.

One module per kind: :mod:`.duckdb`, :mod:`.parquet`, :mod:`.csv`, :mod:`.dlt`.
:mod:`.files` writes response bodies to disk (``output.files``).

Example::

    sink = make_sink("duckdb", "procore.duckdb", options={"table": "images"},
                     context=SinkContext(task="list_images", run_id="r1", primary_key="id"))
    sink.open(); sink.write_all(items); sink.commit()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from task_runner import jsonfast
from task_runner.errors import OutputError
from task_runner.http.sink import SINKS, JsonlSink, Sink, register_sink
from task_runner.redact import REDACTOR, Redactor

__all__ = [
    "KINDS",
    "ColumnTypes",
    "SinkContext",
    "SinkKind",
    "StagedRows",
    "make_sink",
    "output_schema",
    "register",
]

#: ``write:`` modes of the table sinks (dlt's ``write_disposition`` names).
WRITE_MODES = ("append", "replace", "merge")


@dataclass(frozen=True)
class SinkContext:
    """What a sink knows of the task it serves.

    ``primary_key``: the item field that identifies a record (the operation's id
    field, ``paginate.key``); ``schema``: the JSON Schema of one item when the task has
    a stored response schema (``expect.schema: stored``), else ``None`` (columns are
    then read from the items)."""

    task: str
    run_id: str = ""
    primary_key: str | None = "id"
    schema: Mapping[str, Any] | None = None
    redactor: Redactor = REDACTOR


@dataclass(frozen=True)
class SinkKind:
    """A registered sink kind: ``output: {NAME: PATH}`` or ``{NAME: {path: ..., ...}}``.

    ``options``: JSON Schema of each setting besides ``path`` (the workflow schema's
    ``output`` definition is built from them); ``build(target, settings, context)``
    makes the sink; ``needs``: the module whose absence is a missing extra."""

    name: str
    build: Callable[[str, Mapping[str, Any], SinkContext], Sink]
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    needs: str | None = None
    extra: str | None = None

    def __call__(
        self,
        target: str,
        *,
        options: Mapping[str, Any] | None = None,
        context: SinkContext | None = None,
    ) -> Sink:
        if self.needs is not None:
            try:
                __import__(self.needs)
            except ImportError:
                raise OutputError(
                    f"output {self.name} needs the {self.needs} package, which is not installed",
                    hint=f"pip install 'task-runner[{self.extra or self.needs}]'",
                ) from None
        return self.build(target, options or {}, context or SinkContext(task=""))

    def schema(self) -> dict[str, Any]:
        """``PATH`` or an object of ``path`` and :attr:`options`."""
        properties = {"path": {"type": "string", "description": "Where to write."}, **self.options}
        # Not oneOf: an object's own mistake (write: upsert) is then reported at its key.
        return {
            "description": self.description,
            "type": ["string", "object"],
            "additionalProperties": False,
            "properties": properties,
        }


#: The kinds registered here, by name (all are also in ``SINKS``).
KINDS: dict[str, SinkKind] = {}


def register(kind: SinkKind) -> SinkKind:
    """Register ``kind`` in the sink registry under its name."""
    KINDS[kind.name] = kind
    register_sink(kind.name)(kind)
    return kind


def settings_of(raw: Any) -> dict[str, Any]:
    """``output.KIND`` as a dict: a string is the ``path``."""
    if isinstance(raw, str):
        return {"path": raw}
    return dict(raw or {})


def make_sink(
    name: str, settings: Mapping[str, Any], context: SinkContext, *, default_path: str = ""
) -> Sink:
    """The sink ``name`` (a registered kind) for ``output.NAME`` = ``settings``."""
    kind = KINDS.get(name)
    if kind is None:
        known = ", ".join(sorted(SINKS))
        raise OutputError(f"unknown output kind {name!r} (known: {known})")
    target = str(settings.get("path") or default_path)
    return kind(target, options=settings, context=context)


def output_schema() -> dict[str, Any]:
    """The workflow schema's ``output`` definition: ``jsonl``, ``files`` and every
    registered kind's settings (see :meth:`SinkKind.schema`)."""
    from task_runner.sinks.files import files_schema

    properties: dict[str, Any] = {
        "jsonl": {"type": "string", "description": "A JSON Lines file, one item a line."},
        "files": files_schema(),
    }
    for name in sorted(KINDS):
        properties[name] = KINDS[name].schema()
    return {"type": "object", "additionalProperties": False, "properties": properties}


# --- staging ------------------------------------------------------------------------

_PY_TYPES: dict[type, str] = {
    bool: "BOOLEAN",
    int: "BIGINT",
    float: "DOUBLE",
    str: "VARCHAR",
    dict: "JSON",
    list: "JSON",
}


def _widen(old: str, new: str) -> str:
    if old == new:
        return old
    if {old, new} == {"BIGINT", "DOUBLE"}:
        return "DOUBLE"
    if "JSON" in (old, new):
        return "JSON"
    return "VARCHAR"


_SCHEMA_TYPES = {"integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "string": "VARCHAR"}


class _Declared:
    """Marks a column whose type the item schema declares."""


class ColumnTypes:
    """Columns in first-seen order with a SQL type each (DuckDB's names): the item
    schema's type for the fields it declares; for other fields, what the items hold,
    widened as they vary (``int`` and ``float`` give ``DOUBLE``, mixed scalars
    ``VARCHAR``, objects and arrays ``JSON``)."""

    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        self.types: dict[str, str] = {}
        self._seen: dict[str, type] = {}
        properties = (schema or {}).get("properties") or {}
        for name, prop in properties.items():
            self.types[str(name)] = schema_type(prop)
            self._seen[str(name)] = _Declared  # the schema's type stands

    def observe(self, row: Any) -> None:
        if not isinstance(row, Mapping):
            raise OutputError(f"a table row must be a JSON object, not {type(row).__name__}")
        seen = self._seen
        for key, value in row.items():
            kind = type(value)
            known = seen.get(key)
            if known is kind or known is _Declared or value is None:
                continue
            seen[key] = kind
            sql = _PY_TYPES.get(kind, "VARCHAR")
            old = self.types.get(key)
            self.types[key] = sql if old is None else _widen(old, sql)

    def __iter__(self) -> Iterator[str]:
        return iter(self.types)


def schema_type(prop: Any) -> str:
    """The SQL type of a JSON Schema property (``date-time`` strings as TIMESTAMPTZ)."""
    if not isinstance(prop, Mapping):
        return "JSON"
    kinds = prop.get("type")
    if isinstance(kinds, list):
        kinds = [k for k in kinds if k != "null"]
        kinds = kinds[0] if len(kinds) == 1 else "mixed"
    if kinds == "string" and prop.get("format") == "date-time":
        return "TIMESTAMPTZ"
    if kinds == "string" and prop.get("format") == "date":
        return "DATE"
    return _SCHEMA_TYPES.get(str(kinds), "JSON")


class StagedRows:
    """The task's rows, secrets masked, in a JSONL file in a private folder beside
    ``target``; the folder goes when the sink commits or aborts.

    ``columns`` collects the rows' fields and types as they pass."""

    def __init__(self, target: Path, context: SinkContext) -> None:
        self.target = target
        self.context = context
        self.columns = ColumnTypes(context.schema)
        self.count = 0
        self._dir: str | None = None
        self._jsonl: JsonlSink | None = None

    @property
    def path(self) -> Path:
        assert self._jsonl is not None
        return self._jsonl.path

    def open(self) -> StagedRows:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._dir = tempfile.mkdtemp(
                dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".staging"
            )
        except OSError as exc:
            raise OutputError(f"cannot write {self.target}: {exc.strerror}") from None
        self._jsonl = JsonlSink(Path(self._dir) / "rows.jsonl", redactor=self.context.redactor)
        self._jsonl.open()
        return self

    def write_all(self, items: Iterable[Any]) -> None:
        if self._jsonl is None:
            self.open()
        assert self._jsonl is not None
        redactor = self.context.redactor
        # Masked before the columns see them: a secret in a field name must not become a
        # column name while the staged row's key is masked (its value would go missing).
        rows = [redactor.redact_json_value(row) for row in items] if redactor else list(items)
        for row in rows:
            self.columns.observe(row)
        self._jsonl.write_page(rows)
        self.count += len(rows)

    def finish(self) -> Path:
        """Close the staging file; its path (valid until :meth:`discard`)."""
        if self._jsonl is None:
            self.open()
        assert self._jsonl is not None
        self._jsonl.commit()
        return self._jsonl.path

    def rows(self) -> Iterator[dict[str, Any]]:
        """The staged rows, as written (secrets masked), one at a time."""
        with open(self.path, encoding="utf-8") as lines:
            for line in lines:
                yield jsonfast.loads(line)

    def discard(self) -> None:
        if self._jsonl is not None:
            self._jsonl.abort()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._jsonl = None
        self._dir = None


def replace_atomically(tmp: str, target: Path) -> None:
    """fsync ``tmp`` and rename it to ``target`` (POSIX rename: all or nothing)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    with contextlib.suppress(OSError):  # the rename itself survives a power cut
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _load_kinds() -> None:
    # Each module registers its kind; none imports its library until a sink opens.
    from task_runner.sinks import csv, dlt, duckdb, parquet  # noqa: F401


_load_kinds()
