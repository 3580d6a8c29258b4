"""Completion in a workflow buffer: what the catalogue and the file itself know.

At the cursor (read by indentation, so a half-typed line works):

* ``operation: |``: operation ids with method, path and summary; a word that is no id's
  part searches the catalogue (``operation: photos``), as ``apis search`` does;
* a key under ``tasks.<name>.params``: the parameters of the task's operation, required
  first, with type and location; keys already there are left out;
* a parameter's value: its enum values (``true``/``false`` for a boolean) and default;
* ``connection: |``: the connections of the file; ``depends_on``: its tasks;
* inside ``{{ }}``: ``inputs.`` / ``env.`` / ``secrets.`` names (names only, never
  values), ``tasks.`` / ``tasks.<name>.`` / ``tasks.<name>.output.``, ``run.``, the
  namespaces, and filters after ``|``;
* duration keys (``lag``, ``every``, ``initial_interval``, ``read``...): ``30s``, ``15m``...;
  ``cron:``: snippets with what each means.

:func:`complete` returns ``(items, is_incomplete)``; positions are 0-based, in code points.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from task_runner.lsp.document import (
    LineContext,
    block_keys,
    line_context,
    referenced,
    template_at,
    top_keys,
)

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.catalogue.catalogue import ParameterDef
    from task_runner.lsp.analysis import Snapshot

__all__ = ["complete", "param_detail", "param_enum", "secret_names"]

Items = tuple[list[types.CompletionItem], bool]

#: Keys whose value is a duration (see ``task_runner.durations``).
DURATION_KEYS = frozenset(
    {
        "initial_lookback", "lag", "overlap", "max_span", "every", "jitter", "misfire_grace",
        "initial_interval", "max_interval", "max_wait", "connect", "read", "total", "timeout",
        "per",
    }
)  # fmt: skip
DURATIONS = (
    ("500ms", "half a second"),
    ("30s", "30 seconds"),
    ("60s", "a minute"),
    ("5m", "5 minutes"),
    ("15m", "15 minutes"),
    ("1h", "an hour"),
    ("1d", "a day"),
)
CRONS = (
    ('"${1:0} ${2:6} * * *"', "every day at 06:00 (minute hour day-of-month month day-of-week)"),
    ('"*/${1:15} * * * *"', "every 15 minutes"),
    ('"${1:0} * * * *"', "every hour, on the hour"),
    ('"${1:0} ${2:6} * * 1-5"', "Monday to Friday at 06:00"),
    ('"${1:0} ${2:0} 1 * *"', "the first day of every month at midnight"),
)
OUTPUT_FIELDS = ("status", "headers", "body", "items", "item_count", "pages", "jsonl")
NAMESPACE_DOCS = {
    "inputs": "the workflow's inputs (--input, or the default)",
    "env": "environment variables (non-secret configuration)",
    "secrets": "a secret from the environment or .env; redacted everywhere",
    "tasks": "an earlier task's output: tasks.NAME.output",
    "run": "the run: id, workflow, trigger, window_start, window_end, ...",
}
_CHAIN = re.compile(r"([A-Za-z_][\w-]*(?:\.[\w-]*)*)$")
#: Beyond this many matches of a typed prefix, the list is cut and marked incomplete.
MAX_OPERATION_ITEMS = 1000


def complete(snap: Snapshot, catalogue: Catalogue, line: int, col: int) -> Items:
    """The completion items at ``line:col`` of ``snap``'s text (0-based, code points)."""
    lines = snap.lines
    text = lines[line] if line < len(lines) else ""
    inside = template_at(text, col)
    if inside is not None:
        return _template(snap, inside[1], line, col), False
    ctx = line_context(lines, line, col)
    if ctx.role == "key":
        if len(ctx.parents) == 3 and ctx.parents[0] == "tasks" and ctx.parents[2] == "params":
            return _param_names(snap, catalogue, ctx, line), False
        return _schema_keys(snap, ctx, line), False
    return _value(snap, catalogue, ctx, line)


def _schema_keys(snap: Snapshot, ctx: LineContext, line: int) -> list[types.CompletionItem]:
    """The keys the workflow schema allows here, those already present left out."""
    from task_runner.lsp.schema_keys import keys_at

    present = set(block_keys(snap.lines, ctx.parents)) if ctx.parents else top_keys(snap.lines)
    present.discard(ctx.prefix)
    items = []
    for rank, (key, described) in enumerate(keys_at(ctx.parents).items()):
        if key in present:
            continue
        item = _item(key, ctx, line, kind=types.CompletionItemKind.Property)
        item.text_edit = _edit(f"{key}: ", ctx, line)
        item.documentation = described or None
        item.sort_text = f"{rank:05d}"
        items.append(item)
    return items


def _value(snap: Snapshot, catalogue: Catalogue, ctx: LineContext, line: int) -> Items:
    in_task = len(ctx.parents) == 2 and ctx.parents[0] == "tasks"
    if in_task and ctx.key == "operation":
        return _operations(catalogue, ctx, line)
    if in_task and ctx.key == "connection":
        return _words(snap.names("connections"), ctx, line, "connection"), False
    if in_task and ctx.key == "depends_on":
        tasks = [t for t in snap.names("tasks") if t != ctx.parents[1]]
        return _words(tasks, ctx, line, "task"), False
    if len(ctx.parents) == 3 and ctx.parents[0] == "tasks" and ctx.parents[2] == "params":
        operation = snap.task_operation(ctx.parents[1])
        param = _param(catalogue, operation, ctx.key)
        return (_enum_values(param, ctx, line) if param is not None else []), False
    if ctx.key == "cron":
        return [_snippet(body, doc, ctx, line) for body, doc in CRONS], False
    if ctx.key in DURATION_KEYS:
        return [
            _item(value, ctx, line, kind=types.CompletionItemKind.Value, detail=doc)
            for value, doc in DURATIONS
        ], False
    from task_runner.lsp.schema_keys import values_at

    allowed = values_at((*ctx.parents, ctx.key))
    return [
        _item(_yaml_scalar(v), ctx, line, kind=types.CompletionItemKind.EnumMember) for v in allowed
    ], False


# --- operations and parameters -------------------------------------------------------------


def _operations(catalogue: Catalogue, ctx: LineContext, line: int) -> Items:
    prefix = ctx.prefix.strip()
    entries = catalogue.entries()
    incomplete = False
    if prefix:
        wanted = prefix.lower()
        matched = [e for e in entries if wanted in e.id.lower()]
        if not matched:  # not part of an id: search as `apis search` does
            matched = catalogue.search_entries(prefix)
        entries, incomplete = matched, True
    if len(entries) > MAX_OPERATION_ITEMS:
        entries, incomplete = entries[:MAX_OPERATION_ITEMS], True
    items = []
    for entry in entries:
        item = _item(entry.id, ctx, line, kind=types.CompletionItemKind.Function)
        item.detail = f"{entry.method.upper()} {entry.path}"
        item.documentation = entry.summary or None
        item.filter_text = entry.id if _contains(prefix, entry.id) else f"{prefix} {entry.id}"
        items.append(item)
    return items, incomplete


def _contains(prefix: str, op_id: str) -> bool:
    return not prefix or prefix.lower() in op_id.lower()


def _param(catalogue: Catalogue, operation: str | None, name: str) -> ParameterDef | None:
    if not operation or operation not in catalogue:
        return None
    try:
        return catalogue.get(operation).param(name)
    except Exception:  # an unreadable definition: the diagnostics say why
        return None


def param_detail(param: ParameterDef) -> str:
    """``integer, in query, required`` (the words ``apis show`` uses)."""
    kind = param.type or "any"
    if param.schema.get("format"):
        kind += f" ({param.schema['format']})"
    where = "in body" if param.location == "body" else f"in {param.location}"
    return f"{kind}, {where}, {'required' if param.required else 'optional'}"


def _param_names(
    snap: Snapshot, catalogue: Catalogue, ctx: LineContext, line: int
) -> list[types.CompletionItem]:
    task = ctx.parents[1]
    operation = snap.task_operation(task)
    if not operation or operation not in catalogue:
        return []
    try:
        definition = catalogue.get(operation)
    except Exception:
        return []
    present = set(block_keys(snap.lines, ("tasks", task, "params"))) - {ctx.prefix}
    items = []
    ordered = sorted(definition.parameters, key=lambda p: (not p.required, p.name))
    for rank, param in enumerate(ordered):
        if param.name in present:
            continue
        item = _item(param.name, ctx, line, kind=types.CompletionItemKind.Property)
        item.text_edit = _edit(f"{param.name}: ", ctx, line)
        item.detail = param_detail(param)
        item.documentation = param.description or None
        item.sort_text = f"{0 if param.required else 1}{rank:05d}"
        item.preselect = rank == 0 and param.required
        items.append(item)
    return items


def param_enum(param: ParameterDef) -> list[Any]:
    """The values a parameter allows (of its items, for an array), or ``[]``."""
    schema = param.schema
    items = schema.get("items")
    item_enum = items.get("enum") if isinstance(items, dict) else None
    return list(schema.get("enum") or item_enum or [])


def _enum_values(param: ParameterDef, ctx: LineContext, line: int) -> list[types.CompletionItem]:
    schema = param.schema
    values = param_enum(param)
    if not values and param.type == "boolean":
        values = [True, False]
    default = schema.get("default")
    if default is not None and default not in values:
        values.append(default)
    out = []
    for value in values:
        text = _yaml_scalar(value)
        item = _item(text, ctx, line, kind=types.CompletionItemKind.EnumMember)
        item.detail = "default" if value == default else param.name
        out.append(item)
    return out


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        plain = re.fullmatch(r"[A-Za-z_][\w.\-]*", value) and value.lower() not in (
            "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
        )  # fmt: skip
        return value if plain else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


# --- templates --------------------------------------------------------------------------------


def _template(snap: Snapshot, expression: str, line: int, col: int) -> list[types.CompletionItem]:
    from task_runner.workflow.templating import RUN_VARIABLES

    match = _CHAIN.search(expression)
    chain = match.group(1) if match else ""
    parts = chain.split(".")
    head, typed = parts[:-1], parts[-1]
    ctx = LineContext((), "value", "", typed, col - len(typed))
    names: Iterable[str]
    kind = types.CompletionItemKind.Variable
    if re.search(r"\|\s*[\w]*$", expression) and not head:
        names, kind = _filters(), types.CompletionItemKind.Function
    elif not head:
        return [
            _item(name, ctx, line, kind=types.CompletionItemKind.Module, detail=doc)
            for name, doc in NAMESPACE_DOCS.items()
        ]
    elif head == ["inputs"]:
        names = snap.names("inputs")
    elif head == ["env"]:
        names = sorted({*os.environ, *referenced(snap.text, "env")})
    elif head == ["secrets"]:
        names = secret_names(snap)
        kind = types.CompletionItemKind.Constant
    elif head == ["run"]:
        names = RUN_VARIABLES
    elif head == ["tasks"]:
        names = snap.names("tasks")
    elif len(head) == 2 and head[0] == "tasks":
        names = ["output"]
    elif len(head) == 3 and head[0] == "tasks" and head[2] == "output":
        names, kind = OUTPUT_FIELDS, types.CompletionItemKind.Field
    else:
        return []
    return [_item(name, ctx, line, kind=kind) for name in names]


def _filters() -> list[str]:
    """The filters templates may use: Jinja's and task-runner's (``iso_range``, ``shift``...)."""
    from task_runner.workflow.templating import TemplateEngine

    return sorted(TemplateEngine().env.filters)


def secret_names(snap: Snapshot) -> list[str]:
    """Secret names worth offering: those the file reads, those of ``.env`` beside it or in
    the working directory, and the environment's (names only: values are never read for
    completion)."""
    from task_runner.workflow.templating import read_dotenv

    names = referenced(snap.text, "secrets")
    for folder in {snap.path.parent, Path.cwd()}:
        names |= set(read_dotenv(folder / ".env"))
    names |= set(os.environ)
    return sorted(names)


# --- items ------------------------------------------------------------------------------------------


def _edit(new_text: str, ctx: LineContext, line: int) -> types.TextEdit:
    end = ctx.prefix_start + len(ctx.prefix)
    return types.TextEdit(
        range=types.Range(
            start=types.Position(line=line, character=ctx.prefix_start),
            end=types.Position(line=line, character=end),
        ),
        new_text=new_text,
    )


def _item(
    label: str,
    ctx: LineContext,
    line: int,
    *,
    kind: types.CompletionItemKind,
    detail: str | None = None,
) -> types.CompletionItem:
    return types.CompletionItem(
        label=label, kind=kind, detail=detail, text_edit=_edit(label, ctx, line)
    )


def _words(
    names: Iterable[str], ctx: LineContext, line: int, what: str
) -> list[types.CompletionItem]:
    return [
        _item(name, ctx, line, kind=types.CompletionItemKind.Reference, detail=what)
        for name in names
    ]


def _snippet(body: str, doc: str, ctx: LineContext, line: int) -> types.CompletionItem:
    label = re.sub(r"\$\{\d+:([^}]*)\}", r"\1", body)
    item = _item(label, ctx, line, kind=types.CompletionItemKind.Snippet, detail=doc)
    item.text_edit = _edit(body, ctx, line)
    item.insert_text_format = types.InsertTextFormat.Snippet
    return item
