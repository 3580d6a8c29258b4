"""Task parameters against an operation's generated JSON Schema.

Literal values are checked when the workflow loads; templated values after rendering,
once they have been coerced to the parameter's type where that loses nothing
(``"777"`` -> ``777``, ``"true"`` -> ``True``; ``"abc"`` for an integer stays an error
that names the template).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from task_runner.errors import (
    InputError,
    SchemaValidationError,
    SourceLocation,
    did_you_mean,
    raise_if_any,
)
from task_runner.workflow.model import path_text
from task_runner.workflow.templating import is_template

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

    from task_runner.catalogue import OperationDefinition

__all__ = [
    "check_literal_params",
    "coerce",
    "contains_template",
    "humanize",
    "validate_rendered_params",
]

_INT = re.compile(r"^[+-]?\d+$")
_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "a boolean (true or false)",
    "array": "a list",
    "object": "a mapping",
}

Locator = Callable[..., SourceLocation]


def contains_template(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(contains_template(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_template(v) for v in value)
    return is_template(value)


def _message(error: ValidationError) -> str:
    if error.validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return f"{error.instance!r} is not {wanted}"
    if error.validator == "format" and error.cause is not None:
        return str(error.cause)
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{error.instance!r} is not one of the allowed values: {allowed}"
    if error.validator in ("anyOf", "oneOf"):
        enums = [v for branch in error.validator_value for v in branch.get("enum", [])]
        if enums:
            allowed = ", ".join(repr(v) for v in enums)
            extra = (
                " (or several of them joined by commas)"
                if any("pattern" in branch for branch in error.validator_value)
                else ""
            )
            return f"{error.instance!r} is not one of the allowed values: {allowed}{extra}"
        from jsonschema.exceptions import best_match  # only once an error is at hand

        deepest = best_match(error.context or [])
        if deepest is not None:
            return _message(deepest)
    return error.message


def _describe(operation: OperationDefinition, name: str) -> str:
    param = operation.param(name)
    if param is None:
        return ""
    kind = param.schema.get("type", "value")
    text = f" ({param.location} {kind})"
    if param.description:
        text += f": {param.description.strip().splitlines()[0]}"
    return text


def check_literal_params(
    operation: OperationDefinition,
    params: Mapping[str, Any],
    path: list[Any],
    locate: Locator,
) -> list[InputError]:
    """Unknown names, missing required parameters, and literal values against the schema."""
    schema = operation.params_schema
    properties: Mapping[str, Any] = schema.get("properties", {})
    errors: list[InputError] = []
    task = str(path[1]) if len(path) > 1 else None

    def err(message: str, where: list[Any], *, key: bool = False, hint: str | None = None) -> None:
        errors.append(
            SchemaValidationError(
                message,
                location=locate(where, key=key),
                path=path_text(where),
                task=task,
                hint=hint,
            )
        )

    for name in params:
        if name not in properties:
            hint = (
                did_you_mean(str(name), properties, cutoff=0.5)
                or f"see `task-runner apis show {operation.id}`"
            )
            err(
                f"unknown parameter {name!r} for {operation.id}", [*path, name], key=True, hint=hint
            )
    for name in schema.get("required", []):
        if name not in params:
            err(
                f"missing required parameter {name!r}{_describe(operation, name)}",
                path if params else path[:-1],
                key=True,
                hint=f"add `{name}: ...` under params",
            )
    literal = {k: v for k, v in params.items() if k in properties and not contains_template(v)}
    for error in operation.validator().iter_errors(literal):
        if error.validator in ("required", "additionalProperties"):
            continue
        err(_message(error), [*path, *error.absolute_path])
    return errors


def coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    """Convert ``value`` to the schema's type when that is lossless; else return it as is."""
    kind = schema.get("type")
    if kind == "integer":
        if isinstance(value, str) and _INT.match(value.strip()):
            return int(value.strip())
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == "number":
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                return value
            return int(number) if _INT.match(value.strip()) else number
    elif kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    elif kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
    elif kind == "array":
        if not isinstance(value, list):
            value = [value]
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [coerce(v, items) for v in value]
    return value


def validate_rendered_params(
    operation: OperationDefinition,
    rendered: Mapping[str, Any],
    sources: Mapping[str, Any],
    *,
    path: list[Any],
    locate: Locator,
) -> dict[str, Any]:
    """Coerce rendered params, validate them all, raise every problem at once.

    ``sources`` are the params as written, so messages can name the template.
    """
    properties: Mapping[str, Any] = operation.params_schema.get("properties", {})
    values = {
        k: coerce(v, properties[k]) if k in properties and contains_template(sources.get(k)) else v
        for k, v in rendered.items()
    }
    errors: list[InputError] = []
    task = str(path[1]) if len(path) > 1 else None
    for error in operation.validator().iter_errors(values):
        where = [*path, *error.absolute_path]
        message = _message(error)
        key = error.absolute_path[0] if error.absolute_path else None
        source = sources.get(key) if key is not None else None
        if is_template(source):
            message += f" (from template {source!r})"
        elif error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            message = f"missing required parameter {missing!r}{_describe(operation, missing)}"
        errors.append(
            SchemaValidationError(message, location=locate(where), path=path_text(where), task=task)
        )
    raise_if_any(errors)
    return values


def humanize(error: ValidationError) -> str:
    """A jsonschema error as a sentence a person reads ("'abc' is not an integer")."""
    return _message(error)
