"""One job: read ``--input`` text by the type its input declares.

Command-line text is not YAML to guess at: ``project_id=0777`` must never become 511
(YAML 1.1 octal), nor ``at=12:30`` become 750 (sexagesimal). ``parse_inputs`` keeps each
VALUE as :class:`InputText`; :func:`input_value` reads it once the workflow says what the
input is, with the scalar forms of YAML 1.2's core schema (spec 1.2.2, section 10.3.2), made
stricter wherever a form could be read two ways:

=============  =================================================================
``string``     the text exactly as typed (``0777``, ``12:30``, ``yes``, ``null``, ``""``)
``integer``    decimal digits with an optional sign (``777``, ``-5``, ``+5``); a leading
               zero (``0777``), ``0x1F``, ``0o17``, ``1_000``, ``7.0`` and ``1e3`` are
               refused with what to write instead (``777``, ``31``, ``15``, ...)
``number``     a decimal integer or fraction (``1.5``, ``.5``, ``2e-3``); leading zeros,
               ``.inf`` and ``.nan`` refused
``boolean``    ``true`` or ``false`` in any case; ``yes``/``no``/``on``/``off``/``1``/``0``
               refused
``array``      a flow list, ``[1, 2]`` (JSON is one); any other text is a one-item list
``object``     a flow mapping, ``{a: 1}`` or ``{"a": 1}``
=============  =================================================================

Surrounding spaces are ignored for every type but ``string``. Inside a list or a mapping a
quoted scalar is text; a plain one is read by its item's type (``items``) by the same rules.

An input of several types (``type: [integer, string]``) takes the first of null, boolean,
integer, number, array, object, string that reads the text; an input without a type reads
it the same way over all of them. So ``0777``, ``0x1F``, ``0o17``, ``1_000``, ``12:30``,
``yes``, ``Null`` and dates stay text there, never a number or a boolean read another way;
``null`` and ``~`` are None; an empty VALUE is ``""``.

Values given as Python objects (``run_workflow_file(path, {"project_id": 777})``, workflow
defaults, recorded inputs re-read from JSON) are already typed: they keep the lossless
coercion of :func:`task_runner.workflow.params.coerce`.

Example::

    input_value("project_id", InputText("777"), {"type": "integer"})    # 777
    input_value("at", InputText("12:30"), {"type": "string"})            # "12:30"
    input_value("project_id", InputText("0777"), {"type": "integer"})
    # UsageError: --input project_id=0777: an integer input takes decimal digits; a leading
    # zero is refused so it is never read as octal (write 777)
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from task_runner.errors import InputError, UsageError, format_path, raise_if_any
from task_runner.workflow.params import coerce

__all__ = ["InputText", "input_value"]


class InputText(str):
    """A VALUE as typed after ``--input KEY=``, not yet read by its input's type.

    It is a ``str`` everywhere else (equal to the same text, JSON as a string); only
    :func:`input_value` treats it differently from a string given in Python.
    """

    __slots__ = ()


# YAML 1.2.2, 10.3.2 "Tag Resolution" (core schema); ``[0-9]``, not ``\d``: ASCII digits only.
_NULL = re.compile(r"null|~")  # the core schema also has Null and NULL: kept as text here
_INT10 = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF_NAN = re.compile(r"[-+]?\.?(inf|infinity|nan)", re.IGNORECASE)
# Forms YAML 1.2 (0o17, 0x1F) or 1.1 and Python (0b11, 1_000) read as numbers: refused.
_BASED = re.compile(r"[-+]?0([xX][0-9a-fA-F_]+|[oO][0-7_]+|[bB][01_]+)")
_GROUPED = re.compile(r"[-+]?[0-9][0-9_]*_[0-9_]*")
_LEADING_ZEROS = re.compile(r"^([-+]?)0+(?=[0-9])")

_SPACE = " \t\n\r\f\v"  # ASCII white space, around any value that is not a string
_BASES = {"x": "hexadecimal", "o": "octal", "b": "binary"}
_TRUE_ISH = ("yes", "y", "on", "1")
_FALSE_ISH = ("no", "n", "off", "0")

#: type -> (its name in a sentence, what it takes, an example to write)
_KINDS = {
    "null": ("null", "null or ~", "null"),
    "boolean": ("a boolean", "true or false", "true or false"),
    "integer": ("an integer", "decimal digits", "a whole number such as 777"),
    "number": ("a number", "a decimal number", "a number such as 1.5"),
    "array": ("an array", "a list such as [1, 2]", "[1, 2]"),
    "object": ("an object", "a mapping such as {key: value}", "{key: value}"),
    "string": ("a string", "any text", "any text"),
}
_ORDER = ("null", "boolean", "integer", "number", "array", "object", "string")


class _Refused(Exception):
    """This reader does not take the text: ``detail`` says why, ``hint`` what to write."""

    def __init__(self, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


@dataclass(frozen=True)
class _Issue:
    path: tuple[str | int, ...]
    text: str
    kinds: tuple[str, ...]
    refused: _Refused


def input_value(name: str, value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` for the input ``name`` declared by ``schema``: :class:`InputText` read by
    the rules above, anything else coerced losslessly as before.

    Raises :class:`UsageError` (or :class:`InputErrors` for several items of one list)
    naming the input, the text and what to write instead.
    """
    if not isinstance(value, InputText):
        return coerce(value, schema)
    issues: list[_Issue] = []
    result = _read(str(value), schema, (), issues)
    raise_if_any([_usage_error(name, str(value), issue) for issue in issues])
    return result


# --- reading ------------------------------------------------------------------------------


def _kinds(schema: Mapping[str, Any] | None) -> tuple[str, ...]:
    declared = (schema or {}).get("type")
    if isinstance(declared, str):
        return (declared,) if declared in _KINDS else ()
    if isinstance(declared, list):
        return tuple(k for k in _ORDER if k in declared)
    return ()


def _read(
    text: str, schema: Mapping[str, Any] | None, path: tuple[str | int, ...], issues: list[_Issue]
) -> Any:
    """The text read by ``schema``'s type; a refusal becomes an issue and the text stays."""
    kinds = _kinds(schema)
    if len(kinds) == 1:
        try:
            return _READERS[kinds[0]](text, schema or {}, path, issues)
        except _Refused as refused:
            issues.append(_Issue(path, text, kinds, refused))
            return text
    for kind in kinds or _ORDER:
        tried: list[_Issue] = []
        try:
            value = _READERS[kind](text, schema or {}, path, tried, whole=False)
        except _Refused:
            continue
        if not tried:  # a list with one unreadable item is no list here: try the next type
            return value
    issues.append(_Issue(path, text, kinds, _Refused()))
    return text


def _string(text: str, schema: Mapping[str, Any], *_: Any, **__: Any) -> str:
    return text


def _null(text: str, *_: Any, **__: Any) -> None:
    if not _NULL.fullmatch(text.strip(_SPACE)):
        raise _Refused()


def _boolean(text: str, *_: Any, **__: Any) -> bool:
    word = text.strip(_SPACE).lower()
    if word in ("true", "false"):
        return word == "true"
    if word in _TRUE_ISH or word in _FALSE_ISH:
        raise _Refused(
            "yes, no, on, off, 1 and 0 are not read as booleans",
            f"write {'true' if word in _TRUE_ISH else 'false'}",
        )
    raise _Refused()


def _integer(text: str, *_: Any, **__: Any) -> int:
    s = text.strip(_SPACE)
    if not _INT10.fullmatch(s):
        raise _not_decimal(s, whole=True)
    _refuse_leading_zeros(s)
    return _int(s)


def _number(text: str, *_: Any, **__: Any) -> int | float:
    s = text.strip(_SPACE)
    if _INT10.fullmatch(s):
        _refuse_leading_zeros(s)
        return _int(s)
    if not _FLOAT.fullmatch(s):
        raise _not_decimal(s, whole=False)
    _refuse_leading_zeros(s)
    value = float(s)
    if not math.isfinite(value):
        raise _Refused(f"{s} is beyond the largest number (about 1.8e308)")
    return value


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:  # beyond Python's limit on digits read from text (4300 by default)
        raise _Refused(f"{len(s)} digits are more than can be read") from None


def _refuse_leading_zeros(s: str) -> None:
    if _LEADING_ZEROS.match(s):
        plain = _LEADING_ZEROS.sub(r"\1", s)
        raise _Refused("a leading zero is refused so it is never read as octal", f"write {plain}")


def _not_decimal(s: str, *, whole: bool) -> _Refused:
    """Why ``s`` is not a decimal integer (``whole``) or number, and what to write."""
    if _BASED.fullmatch(s):
        base = _BASES[s.lstrip("+-")[1].lower()]
        return _Refused(f"{s} is {base}", f"write {int(s, 0)}")
    if _GROUPED.fullmatch(s):
        return _Refused("no _ between digits", f"write {s.replace('_', '')}")
    if _INF_NAN.fullmatch(s):
        return _Refused("infinity and NaN are refused")
    if whole and _FLOAT.fullmatch(s):
        exact = decimal.Decimal(s)
        if exact == exact.to_integral_value() and abs(exact) < 10**15:
            return _Refused("no decimal point or exponent", f"write {int(exact)}")
        return _Refused(f"{s} is not a whole number")
    return _Refused()


# --- lists and mappings: the YAML flow syntax, scalars read by the rules above -------------


def _array(
    text: str,
    schema: Mapping[str, Any],
    path: tuple[str | int, ...],
    issues: list[_Issue],
    *,
    whole: bool = True,
) -> list[Any]:
    items = schema.get("items") if isinstance(schema.get("items"), Mapping) else None
    if not text.lstrip(_SPACE).startswith("["):
        if not whole:
            raise _Refused()
        return [_read(text, items, (*path, 0), issues)]  # one item, as before
    value = _flow(text, path, issues, schema)
    if not isinstance(value, list):
        raise _Refused()
    return value


def _object(
    text: str,
    schema: Mapping[str, Any],
    path: tuple[str | int, ...],
    issues: list[_Issue],
    **_: Any,
) -> dict[str, Any]:
    if not text.lstrip(_SPACE).startswith("{"):
        raise _Refused()
    value = _flow(text, path, issues, schema)
    if not isinstance(value, dict):
        raise _Refused()
    return value


def _flow(
    text: str,
    path: tuple[str | int, ...],
    issues: list[_Issue],
    schema: Mapping[str, Any] | None = None,
) -> Any:
    """The one flow collection in ``text``, built from the parser's events: PyYAML parses
    the syntax, but its YAML 1.1 resolver (octal, sexagesimal, yes/no) is never used."""
    import yaml

    try:
        events = iter(list(yaml.parse(text, Loader=yaml.SafeLoader))[2:-2])
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not YAML"
        raise _Refused(f"it cannot be read ({problem})") from None
    value = _node(next(events), events, schema, path, issues)
    if next(events, None) is not None:
        raise _Refused("only one list or mapping is read")
    return value


def _node(
    event: Any,
    events: Iterator[Any],
    schema: Mapping[str, Any] | None,
    path: tuple[str | int, ...],
    issues: list[_Issue],
) -> Any:
    import yaml

    if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
        raise _Refused("anchors and aliases are not read")
    if getattr(event, "tag", None) not in (None, "!"):
        raise _Refused("tags (!!str, !!int, ...) are not read; quote text instead")
    if isinstance(event, yaml.ScalarEvent):  # quoted (or tagged !) text is text
        plain = event.style is None and event.tag is None
        return _read(event.value, schema, path, issues) if plain else event.value
    schema = schema or {}
    if isinstance(event, yaml.SequenceStartEvent):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else None
        values: list[Any] = []
        for ev in _until(events, yaml.SequenceEndEvent):
            values.append(_node(ev, events, items, (*path, len(values)), issues))
        return values
    mapping: dict[str, Any] = {}
    for ev in _until(events, yaml.MappingEndEvent):
        if not isinstance(ev, yaml.ScalarEvent):
            raise _Refused("a key must be text")
        if ev.value in mapping:
            raise _Refused(f"the key {ev.value!r} is there twice")
        mapping[ev.value] = _node(
            next(events), events, _property(schema, ev.value), (*path, ev.value), issues
        )
    return mapping


def _until(events: Iterator[Any], end: type) -> Iterator[Any]:
    for event in events:
        if isinstance(event, end):
            return
        yield event


def _property(schema: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and isinstance(properties.get(key), Mapping):
        return properties[key]  # type: ignore[no-any-return]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


_READERS: dict[str, Callable[..., Any]] = {
    "null": _null,
    "boolean": _boolean,
    "integer": _integer,
    "number": _number,
    "array": _array,
    "object": _object,
    "string": _string,
}


# --- messages -------------------------------------------------------------------------------


def _usage_error(name: str, text: str, issue: _Issue) -> InputError:
    """``--input project_id=0777: an integer input takes decimal digits; ... (write 777)``."""
    where = f"--input {name}={_shown(text)}"
    if issue.path:
        where += f": {format_path([name, *issue.path])} is {_shown(issue.text)}"
    subject = " or ".join(_KINDS[k][0] for k in issue.kinds) or "a value"
    takes = " or ".join(_KINDS[k][1] for k in issue.kinds)
    message = f"{where}: {subject}{'' if issue.path else ' input'} takes {takes or 'a value'}"
    if len(issue.kinds) == 1 and issue.refused.detail:
        message += f"; {issue.refused.detail}"
    hint = issue.refused.hint if len(issue.kinds) == 1 else None
    if hint is None and len(issue.kinds) == 1:
        hint = f"write {_KINDS[issue.kinds[0]][2]}"
    return UsageError(message, hint=hint)


def _shown(text: str) -> str:
    """The text as the user typed it, quoted only where it would not read back plainly."""
    if text and text == text.strip() and text.isprintable() and len(text) <= 80:
        return text
    return repr(text if len(text) <= 80 else text[:77] + "...")
