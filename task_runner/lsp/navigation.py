"""Hover and go to definition in a workflow buffer.

Hover shows the reference of an operation (method, path, summary, every parameter) and of
a parameter (type, location, required, enum, default, description), and what a template
renders to with the inputs the editor has set (and the inputs' defaults), secrets as
``***``. Definition goes from an operation id to its definition file (and the reference it
was generated from), from a parameter to its entry there, from ``tasks.X`` (in a template
or ``depends_on``) to task X, from ``connection: NAME`` to the connection and from
``inputs.X`` to the input.

Positions are 0-based, in code points.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from task_runner.lsp.analysis import span_range
from task_runner.lsp.document import Hit, Span, find_key, referenced
from task_runner.redact import MASK, REDACTOR

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.catalogue.catalogue import OperationDefinition, ParameterDef
    from task_runner.lsp.analysis import Snapshot

__all__ = ["definition", "hover", "operation_markdown", "parameter_markdown"]

_REFERENCE = re.compile(r"\b(inputs|tasks)\.([A-Za-z_][\w-]*)")


def _operation(catalogue: Catalogue, op_id: Any) -> OperationDefinition | None:
    if not isinstance(op_id, str) or op_id not in catalogue:
        return None
    try:
        return catalogue.get(op_id)
    except Exception:  # unreadable: the diagnostics say why
        return None


def _task_operation(snap: Snapshot, catalogue: Catalogue, task: Any) -> OperationDefinition | None:
    return _operation(catalogue, snap.task_operation(str(task)))


# --- hover ---------------------------------------------------------------------------------


def hover(
    snap: Snapshot, catalogue: Catalogue, line: int, col: int, inputs: Mapping[str, Any]
) -> types.Hover | None:
    """The hover at ``line:col``, or None when there is nothing to say."""
    hit = snap.index.at(line, col)
    if hit is None:
        return None
    parts: list[str] = []
    path = hit.path
    if len(path) == 3 and path[0] == "tasks" and path[2] == "operation" and hit.role == "value":
        op = _operation(catalogue, hit.value)
        if op is not None:
            parts.append(operation_markdown(op))
    elif len(path) == 4 and path[0] == "tasks" and path[2] == "params":
        op = _task_operation(snap, catalogue, path[1])
        param = op.param(str(path[3])) if op is not None else None
        if param is not None:
            parts.append(parameter_markdown(param, op))
    if hit.role == "value" and isinstance(hit.value, str) and "{{" in hit.value:
        parts.append(rendered_markdown(snap, hit.value, inputs))
    if not parts:
        return None
    text = REDACTOR.redact("\n\n---\n\n".join(parts))
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
        range=span_range(hit.span),
    )


def operation_markdown(op: OperationDefinition) -> str:
    """An operation's reference as Markdown: id, method and path, summary, parameters."""
    lines = [f"**{op.id}**: `{op.method} {op.path}`", ""]
    if op.summary:
        lines += [op.summary, ""]
    if op.description and op.description != op.summary:
        lines += [op.description, ""]
    if op.parameters:
        lines += ["| parameter | where | type | required |", "|---|---|---|---|"]
        for p in sorted(op.parameters, key=lambda p: (not p.required, p.name)):
            lines.append(
                f"| `{p.name}` | {p.location} | {p.type or 'any'} | {'yes' if p.required else ''} |"
            )
    return "\n".join(lines)


def parameter_markdown(param: ParameterDef, op: OperationDefinition | None = None) -> str:
    """One parameter's reference: type, location, required, enum, default, description."""
    from task_runner.lsp.completion import param_detail, param_enum

    owner = f" of `{op.id}`" if op is not None else ""
    lines = [f"**{param.name}**{owner}: {param_detail(param)}"]
    schema = param.schema
    enum = param_enum(param)
    if enum:
        lines.append("one of: " + ", ".join(f"`{json.dumps(v)}`" for v in enum))
    if "default" in schema:
        lines.append(f"default: `{json.dumps(schema['default'])}`")
    if param.description:
        lines.append(param.description)
    return "\n\n".join(lines)


class _MaskedSecrets(Mapping[str, str]):
    """``secrets.X`` in a hover: always ``***``; a hover never reads a secret."""

    label = "secrets"

    def __getitem__(self, name: str) -> str:
        return MASK

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def hover_context(snap: Snapshot, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What a template reads in a hover: the editor's inputs over the declared defaults,
    the environment (a name the file also reads as a secret is ``***``), secrets as
    ``***``, no task outputs, and a run starting now with the workflow's window."""
    from task_runner.workflow.prepare import RunContext
    from task_runner.workflow.templating import Namespace

    values: dict[str, Any] = {}
    for name, spec in snap.mapping("inputs").items():
        if name in inputs:
            values[str(name)] = inputs[name]
        elif isinstance(spec, Mapping) and "default" in spec:
            values[str(name)] = spec["default"]
    secret_names = referenced(snap.text, "secrets")
    # only what the file reads by name: a hover never holds the rest of the environment
    environ = {
        k: (MASK if k in secret_names else os.environ[k])
        for k in referenced(snap.text, "env")
        if k in os.environ
    }
    from task_runner.workflow.model import WindowSpec

    # the checked workflow's window; between checks (or with mistakes) the default one
    window = snap.workflow.window if snap.workflow is not None else WindowSpec()
    run = RunContext.now(snap.name, lookback=window.initial_lookback, lag=window.lag)
    return {
        "inputs": Namespace("inputs", values),
        "env": Namespace("env", environ),
        "secrets": _MaskedSecrets(),
        "tasks": Namespace("tasks", {}),
        "run": run.namespace(),
    }


def rendered_markdown(snap: Snapshot, source: str, inputs: Mapping[str, Any]) -> str:
    """What ``source`` renders to now, or why it does not."""
    from task_runner.errors import TaskRunnerError
    from task_runner.workflow.templating import TemplateEngine

    if re.search(r"\btasks\.", source):
        return "renders when it runs: it reads an earlier task's output"
    try:
        value = TemplateEngine().render(source, hover_context(snap, inputs))
    except TaskRunnerError as exc:
        hint = ""
        if "inputs." in exc.message:
            hint = " (set the editor's inputs: `taskRunner.inputs`, or give the input a default)"
        return f"does not render now: {exc.message}{hint}"
    shown = json.dumps(value, default=str, ensure_ascii=False)
    return f"renders to `{shown}` ({type(value).__name__})"


# --- definition -----------------------------------------------------------------------------


def definition(snap: Snapshot, catalogue: Catalogue, line: int, col: int) -> list[types.Location]:
    """Where what is under ``line:col`` is defined: definition files or places in the buffer."""
    hit = snap.index.at(line, col)
    if hit is None:
        return []
    path = hit.path
    if len(path) == 3 and path[0] == "tasks" and hit.role == "value":
        if path[2] == "operation":
            return _operation_files(_operation(catalogue, hit.value))
        if path[2] == "connection":
            return _here(snap, ("connections", str(hit.value)))
        if path[2] == "depends_on":
            return _here(snap, ("tasks", str(hit.value)))
    if len(path) == 4 and path[0] == "tasks" and path[2] == "depends_on":
        return _here(snap, ("tasks", str(hit.value)))
    if len(path) == 4 and path[0] == "tasks" and path[2] == "params" and hit.role == "key":
        op = _task_operation(snap, catalogue, path[1])
        if op is not None:
            return _in_file(Path(op.file), f'"name": {json.dumps(str(path[3]))}')
    if hit.role == "value" and isinstance(hit.value, str):
        return _template_reference(snap, hit, line, col)
    return []


def _template_reference(snap: Snapshot, hit: Hit, line: int, col: int) -> list[types.Location]:
    text = snap.lines[line] if line < len(snap.lines) else ""
    for match in _REFERENCE.finditer(text):
        if match.start() <= col <= match.end():
            section = "inputs" if match.group(1) == "inputs" else "tasks"
            return _here(snap, (section, match.group(2)))
    return []


def _here(snap: Snapshot, path: tuple[str, str]) -> list[types.Location]:
    number, indent = find_key(snap.lines, path)
    if number < 0:
        return []
    text = snap.lines[number]
    start = text.index(path[1], indent) if path[1] in text[indent:] else indent
    span = Span(number, start, number, start + len(path[1]))
    return [types.Location(uri=snap.path.as_uri(), range=span_range(span))]


def _operation_files(op: OperationDefinition | None) -> list[types.Location]:
    if op is None or not op.file:
        return []
    found = _in_file(Path(op.file), '"id"')
    reference = op.source.get("file") if isinstance(op.source, Mapping) else None
    if isinstance(reference, str):
        definitions = Path(op.file).resolve().parent
        for base in (definitions.parent.parent, definitions.parent, definitions):
            candidate = base / reference
            if candidate.is_file():
                found += _in_file(candidate, None)
                break
    return found


def _in_file(path: Path, needle: str | None) -> list[types.Location]:
    """A location in ``path``: the first line holding ``needle`` (else the top)."""
    line = 0
    if needle is not None:
        try:
            with path.open(encoding="utf-8") as file:
                for number, text in enumerate(file):
                    if needle in text:
                        line = number
                        break
        except OSError:
            return []
    point = types.Position(line=line, character=0)
    return [types.Location(uri=path.resolve().as_uri(), range=types.Range(start=point, end=point))]
