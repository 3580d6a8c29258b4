"""Build a nested JSON request-body schema from a page's dotted body field names.

``image_category`` (Object) and ``image_category.name`` (String, required) become::

    {"type": "object", "properties": {"image_category": {"type": "object",
      "properties": {"name": {"type": "string"}}, "required": ["name"],
      "additionalProperties": false}}}

Rules: a segment ending in ``[]`` (``line_items[].amount``) is an array of objects; a
parent that is not listed itself is created as an object, required when one of its
fields is required; an object with listed fields rejects unknown fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from task_runner.errors import DefinitionError

if TYPE_CHECKING:
    from task_runner.catalogue.reference_parser import ReferenceField

__all__ = ["build_body_schema"]

ErrorFactory = Callable[..., DefinitionError]


def _new_object() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


def _container_of(node: dict[str, Any], is_array: bool) -> dict[str, Any] | None:
    """The object that holds a node's fields, or None when the node cannot have fields."""
    if node.get("type") == "array" or is_array:
        node["type"] = "array"
        items = node.get("items")
        if not isinstance(items, dict) or items.get("type") != "object":
            node["items"] = items = _new_object()
        return items
    if node.get("type") == "object":
        node.setdefault("properties", {})
        return node
    return None


class _Builder:
    def __init__(self, error: ErrorFactory) -> None:
        self.error = error
        self.root = _new_object()
        self.implicit: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
        self.explicit: set[int] = set()

    def descend(self, item: ReferenceField, segments: list[str]) -> dict[str, Any]:
        container = self.root
        for index, segment in enumerate(segments):
            key, is_array = segment.removesuffix("[]"), segment.endswith("[]")
            node = container["properties"].get(key)
            if node is None:
                node = _new_object()
                container["properties"][key] = node
                self.implicit.append((container, key, node))
            inner = _container_of(node, is_array)
            if inner is None:
                parent = ".".join(segments[: index + 1])
                raise self.error(
                    f"body field {item.name!r} is inside {parent!r}, which is not an Object or Array",
                    item.line,
                )
            container = inner
        return container

    def add(self, item: ReferenceField, schema: dict[str, Any]) -> None:
        segments = item.name.split(".")
        if any(not s.removesuffix("[]") for s in segments):
            raise self.error(f"body field name {item.name!r} has an empty part", item.line)
        container = self.descend(item, segments[:-1])
        key = segments[-1].removesuffix("[]")
        existing = container["properties"].get(key)
        if existing is not None:
            if id(existing) in self.explicit:
                raise self.error(f"body field {item.name!r} is listed twice", item.line)
            schema = self._merge_implicit(existing, schema, item)
            self.implicit = [entry for entry in self.implicit if entry[2] is not existing]
        container["properties"][key] = schema
        self.explicit.add(id(schema))
        if item.required:
            container.setdefault("required", []).append(key)

    def _merge_implicit(
        self, existing: dict[str, Any], schema: dict[str, Any], item: ReferenceField
    ) -> dict[str, Any]:
        """A parent listed after its fields: complete the node its fields already hang on.

        The node is updated in place because its fields' bookkeeping refers to it.
        """
        if schema["type"] != existing.get("type"):
            raise self.error(
                f"body field {item.name!r} is a {item.type}, but fields listed before it "
                "treat it as " + ("an Array" if existing.get("type") == "array" else "an Object"),
                item.line,
                hint="fields of an array of objects are written 'name[].field'",
            )
        for key, value in schema.items():
            if key not in ("properties", "required", "items"):
                existing[key] = value
        return existing

    def finish(self) -> dict[str, Any]:
        for container, key, node in reversed(self.implicit):
            target = node["items"] if node.get("type") == "array" else node
            if target.get("required"):
                container.setdefault("required", [])
                if key not in container["required"]:
                    container["required"].append(key)
        _close_objects(self.root)
        return self.root


def _close_objects(schema: dict[str, Any]) -> None:
    """Reject unknown fields in objects whose fields the page lists."""
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for sub in properties.values():
            _close_objects(sub)
        if properties:
            schema["additionalProperties"] = False
        else:
            del schema["properties"]
    items = schema.get("items")
    if isinstance(items, dict):
        _close_objects(items)


def build_body_schema(fields: Sequence[ReferenceField], error: ErrorFactory) -> dict[str, Any]:
    """The ``requestBody`` of a definition: required when any top-level field is."""
    from task_runner.catalogue.reference_parser import field_schema

    builder = _Builder(error)
    for item in fields:
        schema = field_schema(item)
        if item.description:
            schema = {"description": item.description, **schema}
        builder.add(item, schema)
    root = builder.finish()
    root.pop("additionalProperties", None)
    root["additionalProperties"] = False
    return {
        "required": bool(root.get("required")),
        "content": {"application/json": {"schema": root}},
    }
