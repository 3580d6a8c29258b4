"""One job: the load-time checks of fan-out tasks and their outputs (issue 19).

What a run would otherwise find only after earlier tasks already loaded data, checked
when the workflow loads (so ``validate``, ``run`` and ``test-request`` stop at exit 2,
nothing sent), each error at the value's own ``file:line:col``:

- ``output.files.path``: its literal part (the text outside ``{{ }}``) must keep the
  file in its folder: not absolute, no ``..`` segment. A value an item brings (server
  data) is checked again at run time, per item (:func:`task_runner.sinks.files.safe_path`).
- ``tasks.NAME.output.ATTR``: ``ATTR`` is one of the output's attributes
  (:data:`task_runner.runner.result.OUTPUT_ATTRIBUTES`); ``jsonl`` only of a task with an
  ``output.jsonl``, ``for_each`` only of a fan-out task.
- ``primary_key`` of a sink: a field the task's rows have, when their shape is known
  (a task that writes files: its file records; else its saved response schema).
- ``item.FIELD`` in a fan-out task: a field of the upstream task's items, when their
  shape is known (the same sources as above).

The other outputs (``jsonl``, ``csv``, ``parquet``, ``duckdb`` paths) are the user's own
choice, as any tool's output option is: absolute paths and ``..`` stay allowed.

Example::

    for error in fanout_errors(workflow, loc): ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from jinja2 import nodes

from task_runner.errors import (
    InputError,
    SchemaValidationError,
    SourceLocation,
    TemplateError,
    UnresolvedReferenceError,
    did_you_mean,
)
from task_runner.workflow.limits import excerpt
from task_runner.workflow.templating import is_template

if TYPE_CHECKING:
    from task_runner.workflow.model import TaskSpec, Workflow

__all__ = ["FILE_RECORD_FIELDS", "fanout_errors", "static_path_problem"]

#: The fields of a row a task with ``output.files`` writes (besides its ``for_each.key``).
FILE_RECORD_FIELDS = ("path", "size", "sha256", "content_type", "skipped")

_TEMPLATE_PART = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)

Locate = Callable[[Sequence[Any]], SourceLocation]


def static_path_problem(source: str) -> str | None:
    """What is wrong with the literal part of a file path template, or None.

    Each ``{{ }}`` stands for a value (one path segment's worth of text); the text
    around them must not make the path absolute or climb out with ``..``."""
    literal = _TEMPLATE_PART.sub("x", source).strip()
    if not literal:
        return None
    if (
        PurePosixPath(literal).is_absolute()
        or PureWindowsPath(literal).is_absolute()
        or literal.startswith(("~", "\\"))
    ):
        return "is absolute: a file path is relative to the folder the run works in"
    if ".." in re.split(r"[/\\]", literal):
        return "climbs out of its folder with '..'"
    return None


def fanout_errors(workflow: Workflow, locate: Locate) -> list[InputError]:
    """Every mistake of the kinds in the module docstring, in file order."""
    errors: list[InputError] = []
    for name, task in workflow.tasks.items():
        base: list[Any] = ["tasks", name]
        errors.extend(_files_path_errors(task, base, locate))
        errors.extend(_output_reference_errors(workflow, task, base, locate))
        errors.extend(_primary_key_errors(workflow, task, base, locate))
        errors.extend(_item_field_errors(workflow, task, base, locate))
    return errors


def _error(
    cls: type[InputError], message: str, path: list[Any], locate: Locate, hint: str | None
) -> InputError:
    return cls(message, location=locate(path), path=_path_text(path), task=str(path[1]), hint=hint)


def _path_text(path: Sequence[Any]) -> str:
    from task_runner.workflow.model import path_text

    return path_text(path)


# --- output.files.path ----------------------------------------------------------------


def _files_path_errors(task: TaskSpec, base: list[Any], locate: Locate) -> Iterator[InputError]:
    if task.files is None:
        return
    problem = static_path_problem(task.files.path)
    if problem is not None:
        yield _error(
            SchemaValidationError,
            f"output.files.path {excerpt(task.files.path)} {problem}",
            [*base, "output", "files", "path"],
            locate,
            "write a relative path such as photos/{{ item.id }}{{ item.filename | extension }} "
            "and run from the folder the files belong in",
        )


# --- tasks.NAME.output.ATTR -----------------------------------------------------------


def _templates(value: Any, path: list[Any]) -> Iterator[tuple[str, list[Any]]]:
    """Every template string under ``value`` with its path."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _templates(child, [*path, key])
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _templates(child, [*path, index])
    elif is_template(value):
        yield str(value), path


def _chains(workflow: Workflow, source: str) -> list[list[str]]:
    """The dotted names a template reads (``tasks.a.output.items`` as four parts), each
    prefix once; a template that does not parse reads none (another check reports it)."""
    try:
        tree = workflow.templates.env.parse(source)
    except Exception:
        return []
    found: list[list[str]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        chain = _chain(node)
        if chain is not None:
            found.append(chain)
    return found


def _chain(node: nodes.Node) -> list[str] | None:
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        head = _chain(node.node)
        return None if head is None else [*head, node.attr]
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        head = _chain(node.node)
        return None if head is None else [*head, node.arg.value]
    return None


def _output_reference_errors(
    workflow: Workflow, task: TaskSpec, base: list[Any], locate: Locate
) -> Iterator[InputError]:
    from task_runner.runner.result import OUTPUT_ATTRIBUTES

    for source, path in _templates(dict(task.data), base):
        for chain in _chains(workflow, source):
            if len(chain) != 4 or chain[0] != "tasks" or chain[2] != "output":
                continue
            upstream = workflow.tasks.get(chain[1])
            if upstream is None:
                continue  # an unknown task: the loader reports it
            attribute = chain[3]
            where = f"(in template {excerpt(source)})"
            if attribute not in OUTPUT_ATTRIBUTES:
                yield _error(
                    UnresolvedReferenceError,
                    f"tasks.{chain[1]}.output.{attribute} is not an attribute of a task's "
                    f"output {where}",
                    path,
                    locate,
                    did_you_mean(attribute, OUTPUT_ATTRIBUTES)
                    or "a task's output has " + ", ".join(OUTPUT_ATTRIBUTES),
                )
            elif attribute == "jsonl" and not upstream.output_jsonl:
                yield _error(
                    TemplateError,
                    f"tasks.{chain[1]}.output.jsonl is always empty: task {chain[1]!r} writes "
                    f"no JSONL file {where}",
                    path,
                    locate,
                    f"add `jsonl: PATH` under the output of {chain[1]!r}, or read "
                    f"tasks.{chain[1]}.output.items",
                )
            elif attribute == "for_each" and upstream.for_each is None:
                yield _error(
                    TemplateError,
                    f"tasks.{chain[1]}.output.for_each is always empty: task {chain[1]!r} "
                    f"has no for_each {where}",
                    path,
                    locate,
                    None,
                )


# --- the shape of rows and items ------------------------------------------------------


def row_fields(workflow: Workflow, name: str) -> tuple[str, ...] | None:
    """The fields the rows of task ``name`` have, when known: a task that writes files
    has its file records (and its ``for_each.key``); another has its saved response
    schema's item properties (``test-request --save-schema``); else None."""
    task = workflow.tasks[name]
    if task.files is not None:
        key = task.for_each.key if task.for_each is not None else "id"
        return (key, *FILE_RECORD_FIELDS)
    schema = _item_schema(workflow, name)
    if schema is None:
        return None
    return tuple(str(k) for k in schema["properties"])


def _item_schema(workflow: Workflow, name: str) -> Mapping[str, Any] | None:
    from task_runner.sinks.outputs import item_schema

    try:
        return item_schema(workflow, name)
    except Exception:  # an operation the catalogue could not give: no schema known
        return None


def _primary_key_errors(
    workflow: Workflow, task: TaskSpec, base: list[Any], locate: Locate
) -> Iterator[InputError]:
    for kind, settings in task.sinks.items():
        if not isinstance(settings, Mapping):
            continue
        key = settings.get("primary_key")
        if not isinstance(key, str) or is_template(key):
            continue
        fields = row_fields(workflow, task.name)
        if fields is None or key in fields:
            continue
        source = "its file records have" if task.files is not None else "its response schema has"
        yield _error(
            SchemaValidationError,
            f"output.{kind}.primary_key {key!r} is not a field of the rows of task "
            f"{task.name!r} ({source} {', '.join(fields)})",
            [*base, "output", kind, "primary_key"],
            locate,
            did_you_mean(key, fields) or "name the field that identifies a row",
        )


def _item_field_errors(
    workflow: Workflow, task: TaskSpec, base: list[Any], locate: Locate
) -> Iterator[InputError]:
    if task.for_each is None:
        return
    upstream = _items_source(workflow, task.for_each.items)
    if upstream is None:
        return
    fields = row_fields(workflow, upstream)
    if fields is None:
        return
    for key, value in task.data.items():
        if key == "for_each":
            continue
        for source, path in _templates(value, [*base, key]):
            for chain in _chains(workflow, source):
                if len(chain) != 2 or chain[0] != "item" or chain[1] in fields:
                    continue
                yield _error(
                    UnresolvedReferenceError,
                    f"item.{chain[1]} is not a field of the items of task {upstream!r} "
                    f"(in template {excerpt(source)})",
                    path,
                    locate,
                    did_you_mean(chain[1], fields) or "its items have " + ", ".join(fields),
                )


def _items_source(workflow: Workflow, items: str) -> str | None:
    """The task whose items (or JSONL lines) ``for_each.items`` reads, or None."""
    for chain in _chains(workflow, items):
        readable = len(chain) == 4 and chain[0] == "tasks" and chain[2] == "output"
        if readable and chain[3] in ("items", "jsonl", "body") and chain[1] in workflow.tasks:
            return chain[1]
    return None
