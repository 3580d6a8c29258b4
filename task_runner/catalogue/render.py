"""Render an operation definition as text for a person (``apis show``).

One table row per parameter (name, where it goes, type, required, default), and under
each row its possible values and its description, as the reference page gives them.
Body fields are listed with their dotted names (``image_category.name``).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

from task_runner.catalogue.catalogue import OperationDefinition
from task_runner.catalogue.schema_rules import DESCENDING_KEY

__all__ = ["Row", "parameter_rows", "render_definition", "type_label"]

WIDTH = 100
INDENT = "      "

Row = dict[str, Any]


def type_label(schema: dict[str, Any]) -> str:
    """``string<iso8601-range>``, ``array of integer|string``, ``boolean``."""
    kind = schema.get("type", "any")
    label = "|".join(kind) if isinstance(kind, list) else str(kind)
    if label == "array" and isinstance(schema.get("items"), dict):
        label = f"array of {type_label(schema['items'])}"
    if schema.get("format"):
        label += f"<{schema['format']}>"
    return label


def _enum_text(schema: dict[str, Any]) -> str:
    values = schema.get("enum")
    if values is None and isinstance(schema.get("items"), dict):
        values = schema["items"].get("enum")
    if not values:
        return ""
    text = ", ".join(json.dumps(v) for v in values)
    prefix = schema.get(DESCENDING_KEY)
    if prefix:
        text += f' (each may be prefixed with "{prefix}" to reverse; comma-separate several)'
    return text


def _body_rows(schema: dict[str, Any], prefix: str, required: bool) -> Iterator[Row]:
    required_names = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        dotted = f"{prefix}{name}"
        is_required = required and name in required_names
        yield {
            "name": dotted,
            "in": "body",
            "schema": sub,
            "required": is_required,
            "description": sub.get("description", ""),
        }
        inner = sub.get("items") if sub.get("type") == "array" else sub
        if isinstance(inner, dict) and inner.get("properties"):
            marker = "[]." if sub.get("type") == "array" else "."
            yield from _body_rows(inner, dotted + marker, is_required)


def parameter_rows(definition: OperationDefinition) -> list[Row]:
    """Parameters in page order, then body fields (nested ones by dotted name)."""
    rows: list[Row] = [
        {
            "name": p["name"],
            "in": p["in"],
            "schema": p.get("schema", {}),
            "required": bool(p.get("required")),
            "description": p.get("description", ""),
        }
        for p in definition.raw.get("parameters", [])
    ]
    body = definition.request_body or {}
    schema = body.get("content", {}).get("application/json", {}).get("schema")
    if isinstance(schema, dict):
        rows.extend(_body_rows(schema, "", True))
    return rows


def _wrap(text: str) -> list[str]:
    # no breaks inside YYYY-MM-DD or snake-case names
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=INDENT,
        subsequent_indent=INDENT,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _table(rows: list[Row]) -> list[str]:
    headers = ("NAME", "IN", "TYPE", "REQUIRED", "DEFAULT")
    cells = [
        (
            r["name"],
            r["in"],
            type_label(r["schema"]),
            "yes" if r["required"] else "no",
            json.dumps(r["schema"]["default"]) if "default" in r["schema"] else "",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*headers).rstrip()]
    for row, cell in zip(rows, cells, strict=False):
        out.append(line.format(*cell).rstrip())
        enum = _enum_text(row["schema"])
        if enum:
            out.extend(_wrap("possible values: " + enum))
        for paragraph in str(row["description"] or "").split("\n\n"):
            out.extend(_wrap(paragraph))
    return out


def render_definition(definition: OperationDefinition) -> str:
    """The whole page: title, summary, description, parameter table, provenance."""
    lines = [f"{definition.id}: {definition.method} {definition.path}", ""]
    for text in (definition.summary, definition.description):
        if text:
            lines.extend([*textwrap.wrap(text, WIDTH, break_on_hyphens=False), ""])
    rows = parameter_rows(definition)
    required = sum(1 for r in rows if r["required"])
    lines.append(f"Parameters ({len(rows)}, {required} required):")
    lines.extend(_table(rows) if rows else ["(none)"])
    source = definition.source
    if source:
        lines += [
            "",
            f"Source: {source.get('file', '?')} ({source.get('format', '?')}, sha256 {str(source.get('sha256', ''))[:12]})",
        ]
    schema_file = definition.raw.get("x-params-schema")
    if schema_file:
        lines.append(f"Params schema: {schema_file}")
    return "\n".join(lines)
