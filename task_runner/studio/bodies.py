"""The shapes of the studio's request bodies, checked before anything is built.

Each ``POST`` route names its body's JSON Schema (Draft 2020-12, checked with
``jsonschema``); :func:`checked_body` answers a body that does not match with every
mistake at once, each naming its field (``params``, ``inputs.project_id``), as
:class:`~task_runner.errors.InputErrors` of :class:`~task_runner.errors.UsageError`
-- a 400, never a 500 from a value of the wrong type deep inside.

Example::

    data = checked_body(await read_body(request), "draft")
"""

from __future__ import annotations

import functools
from typing import Any

from task_runner.errors import InputErrors, UsageError

__all__ = ["BODIES", "checked_body"]

_TEXT = {"type": "string", "maxLength": 4096}
#: A task's or connection's name, as ``schemas/workflow.schema.json`` allows it ("": none).
_NAME = {"type": ["string", "null"], "maxLength": 256, "pattern": "^([A-Za-z_][A-Za-z0-9_]*)?$"}
_DIGEST = {"type": ["string", "null"], "maxLength": 128}
#: An input's value as the page sends it: the text of a form field (numbers accepted).
_INPUTS = {
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
}
_PARAMS = {"type": "object"}  # any JSON per parameter: the operation's schema checks them

_COMMON = {
    "path": _TEXT,
    "task": _NAME,
    "connection": _NAME,
    "params": _PARAMS,
    "inputs": _INPUTS,
}

#: Body schemas by route: ``draft``/``save`` (a new task), ``task_draft``/``task_save``
#: (an existing task changed), ``test`` (a test request).
BODIES: dict[str, dict[str, Any]] = {
    "draft": {
        "required": ["path", "operation"],
        "properties": {**_COMMON, "operation": _TEXT, "base_sha256": _DIGEST},
    },
    "save": {
        "required": ["path", "operation"],
        "properties": {**_COMMON, "operation": _TEXT, "base_sha256": _DIGEST},
    },
    "task_draft": {
        "required": ["path", "task"],
        "properties": {
            **_COMMON,
            "edit": {"type": ["boolean", "null"]},
            "base_sha256": _DIGEST,
        },
    },
    "task_save": {
        "required": ["path", "task", "base_sha256"],
        "properties": {
            **_COMMON,
            "edit": {"type": ["boolean", "null"]},
            "base_sha256": _DIGEST,
        },
    },
    "test": {
        "required": ["path"],
        "properties": {
            **_COMMON,
            "operation": {"type": ["string", "null"], "maxLength": 4096},
            "edit": {"type": ["boolean", "null"]},
            "pages": {"type": ["integer", "null"], "minimum": 1, "maximum": 10000},
            "confirm_write": {"type": ["boolean", "null"]},
        },
    },
}


@functools.cache
def _validator(route: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = {"type": "object", "additionalProperties": False, **BODIES[route]}
    return Draft202012Validator(schema)


def _describe(error: Any) -> tuple[str, str]:
    """``(field path, message)`` for one schema error, worded for a person."""
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        field = ".".join(p for p in (path, str(extra[0]) if extra else "") if p)
        return field, f"{field} is not a field of this request"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a field"
        return missing, f"{missing} is required"
    if error.validator == "pattern":
        return path, f"{path} {str(error.instance)[:60]!r} is not a name: use letters, digits and _"
    if error.validator == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        got = type(error.instance).__name__.replace("dict", "object").replace("list", "array")
        return path or "body", f"{path or 'the body'} must be {wanted} (got {got})"
    return path or "body", f"{path or 'the body'}: {error.message[:200]}"


def checked_body(data: Any, route: str) -> dict[str, Any]:
    """``data`` (a decoded JSON body) when it has the shape of ``route``'s body (a key
    of :data:`BODIES`); raises :class:`InputErrors` naming every field that does not."""
    found = sorted(
        _validator(route).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]
    )
    if not found:
        return dict(data)
    errors = []
    for error in found:
        field, message = _describe(error)
        errors.append(
            UsageError(f"bad request: {message}", path=field, hint="fix the request's JSON body")
        )
    raise InputErrors(errors)
