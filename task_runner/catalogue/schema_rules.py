"""Rules that turn what a reference says about one parameter into JSON Schema.

Shared by the reference-page parser and the OpenAPI importer so that both give the same
definitions, and used to derive a task's ``params`` schema from a definition:

- types: ``Integer``/``String``/``Boolean``/``Number``/``Array``/``Object`` map to their
  JSON Schema names; array items accept integers or strings unless the source says
  otherwise (Procore ids arrive either way);
- flattened bracket names are restored: ``filterscreated_at`` -> ``filters[created_at]``,
  ``filterstrade_ids[]`` -> ``filters[trade_ids][]``;
- ISO 8601 ranges described in the text become the ``iso8601-range`` format, "a date or a
  range of dates" becomes ``date-or-date-range`` (both checked by
  :data:`task_runner.formats.FORMAT_CHECKER`); ``format: date`` on a range filter of an
  OpenAPI document is widened the same way, so that ranges are not rejected;
- ``sort`` takes each possible value, each also prefixed with ``-`` (descending), and
  several of them comma-separated (``-created_at,taken_at``);
- a query array whose name has no ``[]`` gets ``"x-style": "brackets"``: the request
  builder sends it as ``name[]=1&name[]=2`` (Procore reads a repeated key without ``[]``
  as its last value only). An array whose name ends in ``[]`` is sent as that name,
  repeated, and carries no ``x-style``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = [
    "ANY_ID_ITEMS",
    "BRACKET_PREFIXES",
    "DESCENDING_KEY",
    "TYPE_NAMES",
    "array_style",
    "detect_range_format",
    "params_schema",
    "regex_escape",
    "restore_bracket_name",
    "widen_date_format",
]

#: Reference-page type names -> JSON Schema type names.
TYPE_NAMES = {
    "Integer": "integer",
    "String": "string",
    "Boolean": "boolean",
    "Number": "number",
    "Array": "array",
    "Object": "object",
}

#: Items of an array the source does not type: Procore ids come as numbers or strings.
ANY_ID_ITEMS: dict[str, Any] = {"type": ["integer", "string"]}

#: Query-name prefixes that reference pages flatten (``filtersx`` means ``filters[x]``).
BRACKET_PREFIXES = ("filters",)

#: Marker on a definition's ``sort`` schema: values may carry this prefix to reverse.
DESCENDING_KEY = "x-descending-prefix"

_DATETIME_HINT = re.compile(r"T?HH:MM(:SS)?", re.IGNORECASE)
_DATE_RANGE_HINT = "YYYY-MM-DD...YYYY-MM-DD"


def restore_bracket_name(name: str) -> str:
    """``filterscreated_at`` -> ``filters[created_at]``; other names are returned as they are."""
    for prefix in BRACKET_PREFIXES:
        match = re.fullmatch(re.escape(prefix) + r"(?P<key>[A-Za-z0-9_]+)(?P<arr>\[\])?", name)
        if match:
            return f"{prefix}[{match['key']}]{match['arr'] or ''}"
    return name


def detect_range_format(description: str) -> str | None:
    """The range format a parameter's description asks for, or ``None``.

    "YYYY-MM-DD...YYYY-MM-DD" with a date-time form -> ``iso8601-range``; a date range
    mentioned next to a single "YYYY-MM-DD" -> ``date-or-date-range``.
    """
    if "..." not in description or "YYYY-MM-DD" not in description:
        return None
    if _DATETIME_HINT.search(description):
        return "iso8601-range"
    if _DATE_RANGE_HINT not in description:
        return None
    singles = description.count("YYYY-MM-DD") - 2 * description.count(_DATE_RANGE_HINT)
    return "date-or-date-range" if singles > 0 else "iso8601-range"


def widen_date_format(name: str, schema: dict[str, Any]) -> None:
    """OpenAPI documents type range filters as ``format: date``; accept ranges instead.

    ``filters[created_at]``-like names (ending in ``_at``) take ``iso8601-range``; other
    date filters (``filters[log_date]``) take ``date-or-date-range``.
    """
    fmt = schema.get("format")
    if fmt not in ("date", "date-time") or not name.startswith("filters["):
        return
    key = name[len("filters[") :].split("]", 1)[0]
    schema["format"] = (
        "iso8601-range" if key.endswith("_at") or fmt == "date-time" else "date-or-date-range"
    )


def array_style(location: str, name: str, schema: dict[str, Any]) -> str | None:
    """``"brackets"`` for a query array whose name lacks ``[]`` (see the module docstring)."""
    if location == "query" and schema.get("type") == "array" and not name.endswith("[]"):
        return "brackets"
    return None


def regex_escape(text: str) -> str:
    """Escape for both Python and ECMA-262 (editors): ``re.escape`` also escapes ``-``
    and ``#``, which an ECMA-262 pattern with the ``u`` flag rejects.

    >>> regex_escape("a-b.c{#")
    'a-b\\\\.c\\\\{#'
    """
    return re.sub(r"([.*+?^${}()|\[\]\\/])", r"\\\1", text)


def _sort_property(schema: dict[str, Any]) -> dict[str, Any]:
    """Each value, each with the descending prefix, and comma-separated lists of them."""
    prefix = schema.get(DESCENDING_KEY, "-")
    values = [str(v) for v in schema.get("enum", [])]
    one = "(?:" + "|".join(regex_escape(v) for v in values) + ")"
    item = f"{regex_escape(prefix)}?{one}"
    prop = {k: v for k, v in schema.items() if k not in ("enum", DESCENDING_KEY)}
    prop["anyOf"] = [
        {"enum": values + [prefix + v for v in values]},
        {"pattern": f"^{item}(?:,{item})+$"},
    ]
    return prop


def _parameter_property(param: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(param["schema"])
    if DESCENDING_KEY in schema and schema.get("enum"):
        schema = _sort_property(schema)
    prop: dict[str, Any] = {}
    if param.get("description"):
        prop["description"] = param["description"]
    prop.update(schema)
    prop["x-in"] = param["in"]
    if param.get("x-style"):
        prop["x-style"] = param["x-style"]
    return prop


def _body_schema(definition: dict[str, Any]) -> dict[str, Any] | None:
    body = definition.get("requestBody")
    if not body:
        return None
    schema = body.get("content", {}).get("application/json", {}).get("schema")
    return schema if isinstance(schema, dict) else None


def _title_line(definition: dict[str, Any]) -> str:
    line = f"{definition['method']} {definition['path']}"
    summary = str(definition.get("summary") or "").strip()
    return f"{line}: {summary}" if summary else line


def params_schema(definition: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a task's ``params`` for one operation definition.

    Keys are the reference's parameter names; each property says where it goes with
    ``x-in`` (``path``/``query``/``header``/``body``). Top-level body fields are keys too.
    A body field whose name is already a path/query/header parameter is keyed
    ``body.<name>`` and carries ``"x-name": "<name>"``, its name inside the body.
    """
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in definition.get("parameters", []):
        properties[param["name"]] = _parameter_property(param)
        if param.get("required"):
            required.append(param["name"])
    body = _body_schema(definition)
    if body is not None:
        body_required = set(body.get("required", []))
        for name, sub in body.get("properties", {}).items():
            key = name if name not in properties else f"body.{name}"
            prop = copy.deepcopy(sub)
            prop["x-in"] = "body"
            if key != name:
                prop["x-name"] = name
            properties[key] = prop
            if name in body_required:
                required.append(key)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{definition['id']} params",
        "description": f"{definition['method']} {definition['path']}: {definition.get('summary', '')}".rstrip(
            ": "
        ),
        "type": "object",
        "properties": properties,
    }
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema
