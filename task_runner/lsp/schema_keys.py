"""Keys and values the workflow schema allows at a path, for completion in editors that
have no JSON Schema support of their own (Neovim without a YAML server).

:func:`schema_at` walks ``schemas/workflow.schema.json`` along a key path (``("tasks",
"list_images", "retry")``): ``properties``, then ``additionalProperties``, through
``$ref`` and every branch of ``oneOf``/``anyOf``/``allOf``. :func:`keys_at` lists the
keys there with their descriptions; :func:`values_at` the ``enum``/``const`` values.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["keys_at", "schema_at", "values_at"]


@functools.lru_cache(maxsize=1)
def _workflow_schema() -> dict[str, Any]:
    from task_runner.workflow.loader import workflow_schema_path

    data: dict[str, Any] = json.loads(workflow_schema_path().read_text(encoding="utf-8"))
    return data


def _resolve(schema: Any, root: Mapping[str, Any], depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """``schema`` and the branches it combines, ``$ref`` followed (local refs only)."""
    if not isinstance(schema, Mapping) or depth > 20:
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        yield from _resolve(target, root, depth + 1)
    yield schema
    for combinator in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(combinator) or ():
            yield from _resolve(branch, root, depth + 1)


def schema_at(
    path: Sequence[str], root: Mapping[str, Any] | None = None
) -> list[Mapping[str, Any]]:
    """Every (sub)schema that applies at ``path``; ``[]`` when the path leaves the schema."""
    root = _workflow_schema() if root is None else root
    current = list(_resolve(root, root))
    for part in path:
        following: list[Mapping[str, Any]] = []
        for schema in current:
            properties = schema.get("properties")
            if isinstance(properties, Mapping) and part in properties:
                following.extend(_resolve(properties[part], root))
            elif isinstance(schema.get("additionalProperties"), Mapping):
                following.extend(_resolve(schema["additionalProperties"], root))
        current = following
        if not current:
            break
    return current


def keys_at(path: Sequence[str]) -> dict[str, str]:
    """``{key: description}`` of the keys the schema names at ``path``, in schema order."""
    keys: dict[str, str] = {}
    for schema in schema_at(path):
        for name, sub in (schema.get("properties") or {}).items():
            described = next(
                (
                    s.get("description")
                    for s in _resolve(sub, _workflow_schema())
                    if s.get("description")
                ),
                "",
            )
            keys.setdefault(str(name), str(described or ""))
    return keys


def values_at(path: Sequence[str]) -> list[Any]:
    """The values the schema allows at ``path`` (its ``enum`` and ``const``s)."""
    values: list[Any] = []
    for schema in schema_at(path):
        for value in [
            *(schema.get("enum") or ()),
            *([schema["const"]] if "const" in schema else []),
        ]:
            if value not in values:
                values.append(value)
    return values
