"""One job: a task's rows as a CSV file a spreadsheet opens correctly.

``output: {csv: {path: out/images.csv}}``: a header row of every field in first-seen
order, objects and arrays as JSON text, booleans as ``true``/``false``, no value as an
empty cell; UTF-8 with a byte-order mark (``encoding: utf-8-sig``, the default) so Excel
reads accents right. A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR
would run as a formula in a spreadsheet (OWASP "CSV injection"): it is prefixed with
``'`` unless ``escape_formulas: false``. The file appears whole, by rename, or not at all.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from task_runner.errors import OutputError
from task_runner.sinks import SinkContext, SinkKind, StagedRows, register, replace_atomically

__all__ = ["CsvSink"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any, *, escape_formulas: bool = True) -> str:
    """One value as CSV cell text (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    if escape_formulas and isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


class CsvSink:
    """Rows as CSV at ``path``, atomically."""

    def __init__(
        self,
        path: str,
        *,
        context: SinkContext,
        encoding: str = "utf-8-sig",
        delimiter: str = ",",
        escape_formulas: bool = True,
    ) -> None:
        self.path = Path(path)
        self.encoding = encoding
        self.delimiter = delimiter
        self.escape_formulas = escape_formulas
        self.staged = StagedRows(self.path, context)

    def open(self) -> CsvSink:
        self.staged.open()
        return self

    def write_all(self, items: Iterable[Any]) -> None:
        self.staged.write_all(items)

    def commit(self) -> None:
        tmp: str | None = None
        try:
            self.staged.finish()
            fields = list(self.staged.columns)
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            with os.fdopen(fd, "w", encoding=self.encoding, newline="") as out:
                writer = csv.writer(out, delimiter=self.delimiter)
                writer.writerow(fields)
                for row in self.staged.rows():
                    writer.writerow(
                        [cell(row.get(f), escape_formulas=self.escape_formulas) for f in fields]
                    )
            replace_atomically(tmp, self.path)
            tmp = None
        except OSError as exc:
            raise OutputError(f"writing {self.path} failed: {exc.strerror}") from None
        except (UnicodeError, LookupError) as exc:  # output.csv.encoding cannot hold a value
            raise OutputError(
                f"writing {self.path} failed: {exc}",
                hint="use an encoding that holds every character, such as utf-8-sig",
            ) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            self.staged.discard()

    def abort(self) -> None:
        self.staged.discard()


def _build(target: str, settings: Mapping[str, Any], context: SinkContext) -> CsvSink:
    if not target:
        raise OutputError(f"output csv of task {context.task!r} needs a path")
    return CsvSink(
        target,
        context=context,
        encoding=str(settings.get("encoding") or "utf-8-sig"),
        delimiter=str(settings.get("delimiter") or ","),
        escape_formulas=bool(settings.get("escape_formulas", True)),
    )


register(
    SinkKind(
        name="csv",
        build=_build,
        description="Rows as a CSV file for spreadsheets (nested values as JSON text).",
        options={
            "encoding": {"type": "string", "description": "Default utf-8-sig (Excel-friendly)."},
            "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
            "escape_formulas": {
                "type": "boolean",
                "description": "Prefix cells a spreadsheet would run as formulas with ' (default true).",
            },
        },
    )
)
