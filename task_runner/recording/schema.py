"""One job: infer a JSON Schema of a task's items from recordings, and keep it by the task.

The inference is `genson`'s (a well-kept library that merges the types it sees: ``1``
and ``1.5`` make ``number``, a field missing from some items is not ``required``, a
field seen as ``null`` and as a string is ``anyOf`` both). The items are those of the
accepted pages, found where the recording says they are (``pagination.items``).

The saved schema is the operation's response schema, beside its definition, in a folder
that the catalogue and ``apis generate --check`` do not read::

    task_definitions/<api>/responses/<operation id>.schema.json

A raw-request task has no operation; its schema sits beside the workflow::

    <workflow dir>/schemas/<workflow>.<task>.response.schema.json

Example::

    schema = infer_schema(recorded_items(store.load("procore-daily-photos/list_images")))
    save_response_schema(response_schema_path(workflow, "list_images"), schema)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import OutputError
from task_runner.recording.store import atomic_write_text, safe_name

if TYPE_CHECKING:
    from task_runner.workflow.model import Workflow

__all__ = [
    "SCHEMA_DIALECT",
    "infer_schema",
    "load_response_schema",
    "recorded_items",
    "response_schema_path",
    "save_response_schema",
]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: The folder beside an API's definitions that holds its operations' response schemas.
RESPONSES_DIR = "responses"


def recorded_items(recording: Mapping[str, Any]) -> list[Any]:
    """The items of a recording's accepted pages (none for a refused or failed request)."""
    from task_runner.http.response import extract_items

    items_at = str((recording.get("pagination") or {}).get("items") or "")
    items: list[Any] = []
    for page in recording.get("responses") or ():
        if isinstance(page, Mapping) and page.get("accepted", True):
            items.extend(extract_items(page.get("body"), items_at))
    return items


def infer_schema(items: Iterable[Any], *, description: str | None = None) -> dict[str, Any]:
    """The JSON Schema (2020-12) of ``items``: every one of them matches it."""
    from genson import SchemaBuilder

    builder = SchemaBuilder(schema_uri=SCHEMA_DIALECT)
    for item in items:
        builder.add_object(item)
    schema: dict[str, Any] = builder.to_schema()
    if description:  # first after $schema, so the file says what it is at the top
        schema = {"$schema": schema.pop("$schema"), "description": description, **schema}
    return schema


def response_schema_path(workflow: Workflow, task: str) -> Path:
    """Where the response schema of ``task`` is kept (see the module docstring)."""
    spec = workflow.task(task)
    operation = workflow.operation(spec)
    if operation is not None and operation.file:
        folder = Path(operation.file).parent / RESPONSES_DIR
        return folder / f"{safe_name(operation.id)}.schema.json"
    name = f"{safe_name(workflow.name)}.{safe_name(task)}.response.schema.json"
    return workflow.path.parent / "schemas" / name


def load_response_schema(path: Path) -> dict[str, Any] | None:
    """The schema saved at ``path``, or None when there is none (or it is not JSON)."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def save_response_schema(path: Path, schema: Mapping[str, Any]) -> Path:
    """Write ``schema`` to ``path`` atomically (two-space JSON, as the generator writes)."""
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise OutputError(
            f"cannot write the response schema {path}: {exc.strerror or exc}",
            hint="give a writable --definitions folder holding the operation's definition",
        ) from exc
    return path
