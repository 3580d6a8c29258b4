"""Named string formats that parameter schemas use, and their parsers.

Registered with a :class:`jsonschema.FormatChecker` (the registry-by-decorator pattern of
``FormatChecker.checks``) so that every generated parameter schema and the workflow
schema share one checker::

    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)

Formats:

- ``date``: ``YYYY-MM-DD``
- ``date-time``: ISO 8601 with a time zone (``Z`` or ``+HH:MM``)
- ``iso8601-range``: ``START...END`` where both ends are dates, or both UTC date-times
  (``...Z``), or both date-times with an offset; START must not be after END
- ``date-or-date-range``: a ``date`` or a date-only ``iso8601-range``

Each format also has a ``pattern`` (:data:`FORMAT_PATTERNS`, registered with it by
:func:`_format`) that accepts everything its check accepts: the editor schema adds it
beside the ``format``, so that validators that ignore unknown formats (editors,
check-jsonschema) still reject ``yesterday`` where a range belongs. A pattern cannot
check calendars (``2023-02-29``) nor that a range ends after it starts; the check does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from jsonschema import FormatChecker

__all__ = [
    "FORMAT_CHECKER",
    "FORMAT_EXAMPLES",
    "FORMAT_PATTERNS",
    "RANGE_SEPARATOR",
    "is_date",
    "is_datetime",
    "parse_date",
    "parse_datetime",
    "parse_range",
]

RANGE_SEPARATOR = "..."

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# An offset's minutes are 00-59: ``datetime.fromisoformat`` alone reads +05:99 as +06:39.
_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?P<tz>Z|[+-]\d{2}:[0-5]\d)$"
)

#: ``FORMAT_CHECKER``: a :class:`jsonschema.FormatChecker` with the formats below, built on
#: first use (:func:`__getattr__`), so that importing this module does not import jsonschema.
if TYPE_CHECKING:
    FORMAT_CHECKER: FormatChecker
#: ``{format name: check}``, in registration order: what ``FORMAT_CHECKER`` checks.
_CHECKS: dict[str, Callable[[object], bool]] = {}

#: ``{format name: pattern}``: a regular expression, valid both as ECMA-262 (editors) and
#: as Python ``re`` (ASCII classes, no look-behind), that accepts every value the format's
#: check accepts and rejects what is plainly something else.
FORMAT_PATTERNS: dict[str, str] = {}
#: ``{format name: an example value}``, for messages ("not a date like 2024-05-01").
FORMAT_EXAMPLES: dict[str, str] = {}

_DATE_P = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_DATETIME_P = (
    _DATE_P + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_SEP_P = re.escape(RANGE_SEPARATOR)

_Check = TypeVar("_Check", bound=Callable[[object], bool])


def _format(name: str, pattern: str, example: str) -> Callable[[_Check], _Check]:
    """Register a format's check with :data:`FORMAT_CHECKER`, its pattern and an example."""
    FORMAT_PATTERNS[name] = f"^(?:{pattern})$"
    FORMAT_EXAMPLES[name] = example

    def register(check: _Check) -> _Check:
        _CHECKS[name] = check
        return check

    return register


def __getattr__(name: str) -> Any:
    """``FORMAT_CHECKER``, built once on first access (PEP 562)."""
    if name == "FORMAT_CHECKER":
        from jsonschema import FormatChecker

        checker = FormatChecker(formats=())
        for format_name, check in _CHECKS.items():
            checker.checks(format_name, raises=ValueError)(check)
        globals()["FORMAT_CHECKER"] = checker
        return checker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_date(text: str) -> dt.date:
    """``2024-05-01`` -> ``date(2024, 5, 1)``; raises ``ValueError`` for anything else."""
    if not _DATE_RE.match(text):
        raise ValueError(f"{text!r} is not a date like 2024-05-01")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a real date: {exc}") from None


def parse_datetime(text: str) -> dt.datetime:
    """An ISO 8601 date-time with ``Z`` or an offset -> an aware ``datetime``."""
    if not _DATETIME_RE.match(text):
        raise ValueError(f"{text!r} is not a date-time like 2024-05-01T16:30:00Z")
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a real date-time: {exc}") from None


def is_date(text: object) -> bool:
    try:
        return isinstance(text, str) and bool(parse_date(text))
    except ValueError:
        return False


def is_datetime(text: object) -> bool:
    try:
        return isinstance(text, str) and bool(parse_datetime(text))
    except ValueError:
        return False


def _kind(text: str) -> str:
    if _DATE_RE.match(text):
        return "date"
    m = _DATETIME_RE.match(text)
    if m:
        return "utc" if m.group("tz") == "Z" else "offset"
    return "invalid"


def parse_range(text: str) -> tuple[dt.date | dt.datetime, dt.date | dt.datetime]:
    """``START...END`` -> ``(start, end)``; both ends of one kind; start <= end.

    >>> parse_range("2024-05-01...2024-05-02")
    (datetime.date(2024, 5, 1), datetime.date(2024, 5, 2))
    """
    if not isinstance(text, str) or text.count(RANGE_SEPARATOR) != 1:
        raise ValueError(f"{text!r} is not a range like 2024-05-01...2024-05-02")
    left, right = text.split(RANGE_SEPARATOR)
    kinds = {_kind(left), _kind(right)}
    if "invalid" in kinds:
        raise ValueError(
            f"{text!r} is not a range: each end must be YYYY-MM-DD, "
            "YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS+HH:MM"
        )
    if kinds == {"utc", "offset"}:
        kinds = {"datetime"}
    if len(kinds) != 1:
        raise ValueError(f"{text!r} mixes a date and a date-time; use the same form on both ends")
    start: dt.date | dt.datetime
    end: dt.date | dt.datetime
    if _kind(left) == "date":
        start, end = parse_date(left), parse_date(right)
    else:
        start, end = parse_datetime(left), parse_datetime(right)
    if start > end:  # type: ignore[operator]
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


@_format("date", _DATE_P, "2024-05-01")
def _check_date(value: object) -> bool:
    return not isinstance(value, str) or bool(parse_date(value))


@_format("date-time", _DATETIME_P, "2024-05-01T16:30:00Z")
def _check_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(parse_datetime(value))


@_format(
    "iso8601-range",
    f"{_DATE_P}{_SEP_P}{_DATE_P}|{_DATETIME_P}{_SEP_P}{_DATETIME_P}",
    "2024-05-01T00:00:00Z...2024-05-02T00:00:00Z",
)
def _check_range(value: object) -> bool:
    return not isinstance(value, str) or bool(parse_range(value))


@_format("date-or-date-range", f"{_DATE_P}(?:{_SEP_P}{_DATE_P})?", "2024-05-01...2024-05-02")
def _check_date_or_range(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if RANGE_SEPARATOR in value:
        start, _ = parse_range(value)
        if isinstance(start, dt.datetime):
            raise ValueError(f"{value!r} must be a date range like 2024-05-01...2024-05-02")
        return True
    return bool(parse_date(value))
