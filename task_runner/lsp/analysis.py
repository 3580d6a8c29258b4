"""Check an editor buffer as ``task-runner validate`` checks a file, and say where.

:func:`analyse` runs the same code as ``validate`` (:func:`load_workflow` on the buffer's
text, then :func:`render_check`) and keeps what completion, hover and definition need:
the YAML index with node ranges, the data as loaded, and the workflow when it loaded.
:func:`diagnostics` turns the errors into LSP diagnostics whose range covers the value or
key each error names, with the message and ``kind`` that ``validate --output json``
reports (``kind`` is the diagnostic's ``code``).

Example::

    snap = analyse(Path("wf.yaml"), text, catalogue)
    for diagnostic in diagnostics(snap):
        print(diagnostic.range.start.line, diagnostic.code, diagnostic.message)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from task_runner.errors import InputError, InputErrors, LoadError, SourceLocation
from task_runner.lsp.document import Span, YamlIndex, block_keys, find_key, indent_of

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.workflow.model import Workflow

__all__ = ["Snapshot", "analyse", "diagnostics", "is_workflow_text", "read", "span_range"]

#: What marks a YAML buffer as a workflow: a top-level ``tasks:`` or ``connections:``, or
#: the editor schema line ``add-task`` writes.
_WORKFLOW_MARK = re.compile(r"^(tasks|connections)\s*:|workflow\.schema\.json", re.MULTILINE)

SOURCE = "task-runner"


def is_workflow_text(text: str) -> bool:
    """True when ``text`` looks like a workflow (other YAML files get no diagnostics)."""
    return _WORKFLOW_MARK.search(text) is not None


@dataclass
class Snapshot:
    """One analysed version of a buffer: its text, YAML index, loaded data (None when the
    YAML does not parse), the workflow (None when it has errors) and every error, sorted."""

    path: Path
    text: str
    index: YamlIndex
    data: Any = None
    workflow: Workflow | None = None
    errors: list[InputError] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.index.lines

    def mapping(self, *path: str) -> Mapping[str, Any]:
        """The mapping at ``path`` in the loaded data, or ``{}``."""
        node = self.data
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        return node if isinstance(node, Mapping) else {}

    def names(self, section: str) -> list[str]:
        """The keys under a top-level ``section`` (``inputs``, ``connections``, ``tasks``):
        of the loaded data when the buffer parses, else read from its lines."""
        loaded = self.mapping(section)
        if loaded:
            return [str(k) for k in loaded]
        return block_keys(self.lines, (section,))

    def task_operation(self, task: str) -> str | None:
        """The operation id of ``task``: from the loaded data, else from the lines."""
        value = self.mapping("tasks", task).get("operation")
        if isinstance(value, str):
            return value
        start, indent = find_key(self.lines, ("tasks", task))
        if start < 0:
            return None
        for text in self.lines[start + 1 :]:
            if text.strip() and not text.lstrip().startswith("#") and indent_of(text) <= indent:
                break
            found = re.match(r"^\s+operation\s*:\s*['\"]?([^\s'\"#]+)", text)
            if found:
                return found.group(1)
        return None

    @property
    def name(self) -> str:
        """The workflow's name as the loader reads it (``name:``, else the file's stem)."""
        name = self.mapping().get("name")
        return str(name) if name is not None else self.path.stem


def read(path: Path, text: str) -> Snapshot:
    """``text`` read, not checked: its YAML index and data (None when it does not parse).
    What completion, hover and definition need between two checks, in a few milliseconds."""
    from task_runner.workflow.yaml_loader import load_yaml_text

    snap = Snapshot(path, text, YamlIndex.of(text))
    if snap.index.root is not None:
        try:
            snap.data = load_yaml_text(text, str(path))
        except LoadError:
            pass
    return snap


def analyse(
    path: Path,
    text: str,
    catalogue: Catalogue,
    *,
    inputs: Mapping[str, Any] | None = None,
) -> Snapshot:
    """Validate ``text`` as the content of ``path``: every error ``validate`` reports for
    that file (with ``--input`` for each of :func:`editor_inputs`), sorted by location."""
    from task_runner.workflow.limits import MAX_FILE_BYTES
    from task_runner.workflow.loader import load_workflow
    from task_runner.workflow.validate import render_check
    from task_runner.workflow.yaml_loader import load_yaml_text

    snap = Snapshot(path, text, YamlIndex.of(text))
    limit = MAX_FILE_BYTES.value()
    if len(text) > limit // 4 and len(text.encode("utf-8", "surrogatepass")) > limit:
        snap.errors = [
            LoadError(
                f"the buffer is larger than the {limit:,} bytes a workflow file may have",
                location=SourceLocation(str(path)),
                hint=MAX_FILE_BYTES.hint(),
            )
        ]
        return snap
    try:
        snap.workflow = load_workflow(path, catalogue=catalogue, text=text)
    except InputErrors as exc:
        snap.errors = list(exc.errors)
    except InputError as exc:
        snap.errors = [exc]
    if snap.workflow is not None:
        snap.data = snap.workflow.data
        snap.errors = render_check(snap.workflow, editor_inputs(snap.workflow, inputs or {}))
    else:  # what completion and hover read of a buffer with mistakes
        try:
            snap.data = load_yaml_text(text, str(path))
        except LoadError:
            pass  # a YAML syntax error: reported above, the way validate does
    snap.errors.sort(key=lambda e: e.sort_key())
    return snap


def editor_inputs(workflow: Workflow, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The editor's inputs that ``workflow`` declares, when they (with the defaults) give it
    every input it needs; else none, so the check is ``validate``'s without ``--input``.
    One set of editor settings serves every workflow of a folder: an input another
    workflow takes, or one not set yet, is no mistake in this file."""
    given = {k: v for k, v in inputs.items() if k in workflow.inputs}
    missing = [n for n, spec in workflow.inputs.items() if n not in given and not spec.has_default]
    return {} if missing else given


def _same_file(location: SourceLocation, path: Path) -> bool:
    if location.file == str(path):
        return True
    try:
        return os.path.samefile(location.file, path)
    except OSError:
        return False


def span_range(span: Span) -> types.Range:
    """A :class:`Span` as an LSP range (still in code points; the server converts)."""
    return types.Range(
        start=types.Position(line=span.start_line, character=span.start_col),
        end=types.Position(line=span.end_line, character=span.end_col),
    )


def diagnostics(snap: Snapshot) -> list[types.Diagnostic]:
    """The snapshot's errors as diagnostics: range, ``message`` and ``code`` (the error's
    ``kind``) as ``validate --output json`` has them; ``data`` holds its ``path`` and
    ``task``."""
    out: list[types.Diagnostic] = []
    for error in snap.errors:
        described = error.to_dict()
        message = described["message"]
        location = error.location
        if location is None or not location.line:
            span = snap.index.rest_of_line(0, 0)
        elif not _same_file(location, snap.path):  # e.g. an operation's definition file
            span = snap.index.rest_of_line(0, 0)
            message = f"{location}: {message}"
        else:
            span = snap.index.span_from(location.line - 1, max(location.column - 1, 0))
        out.append(
            types.Diagnostic(
                range=span_range(span),
                message=message,
                severity=types.DiagnosticSeverity.Error,
                code=described["kind"],
                source=SOURCE,
                data={"path": described["path"], "task": described["task"]},
            )
        )
    return out
