"""One job: decode response bodies and encode JSON lines fast, with one output either way.

With ``orjson`` installed (the ``speed`` extra), decoding and encoding run in C; without
it the standard ``json`` module does the same work. The output is byte-identical either
way, and identical to what the runner wrote before orjson was used: compact separators,
UTF-8 (never ``\\uXXXX`` for printable characters), ``json``'s float formatting. Where
the two libraries would differ, the standard library decides:

* decoding: a body orjson refuses (``NaN``, UTF-16, a byte order mark, lone surrogate
  escapes), or one with a number of 19 digits or more (orjson turns an integer beyond 64
  bits into a float), is decoded by ``json.loads``, so what is accepted, every value,
  and the error for what is not are the standard library's;
* encoding: a value orjson refuses (a big integer, a non-string key, a lone surrogate, a
  subclass, a date or a dataclass), or whose line holds a float orjson formats
  differently (below 1e-4: ``0.00001`` for ``1e-05``), is encoded by ``json.dumps``;
  the two non-JSON types orjson encodes itself are written by both as orjson does (a
  ``uuid.UUID`` as its string, an ``enum.Enum`` member as its value).

Two rules hold in both paths, because a JSON Lines file must hold JSON (RFC 8259
section 6 has no ``NaN``; section 8.1 requires UTF-8): a non-finite float is written as
``null``, and a string with a lone surrogate is written with ``\\uXXXX`` escapes.

Example::

    items = loads(b'[{"id": 1, "name": "IMG_1.jpg"}]')
    lines(items)   # b'{"id":1,"name":"IMG_1.jpg"}\\n'
"""

from __future__ import annotations

import enum
import json
import math
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["BACKEND", "dumps_line", "lines", "loads", "std_line"]

_orjson: Any
try:
    import orjson as _orjson
except ImportError:  # the standard library does the same, only slower
    _orjson = None

#: Which library does the work: ``"orjson"`` or ``"json"``.
BACKEND = "orjson" if _orjson is not None else "json"

_SEPARATORS = (",", ":")
_STD: dict[str, Any] = {"ensure_ascii": False, "separators": _SEPARATORS}
#: Where an orjson line may format a float unlike ``json``: exponents below 1e-4
#: (``1.5e-7``, json ``1.5e-07``) and the plain decimals orjson uses from 1e-5 to 1e-4
#: (``0.00001``, json ``1e-05``). A match inside a string is a false alarm that only
#: costs a re-encode of that line.
_FLOAT_RISK = re.compile(rb"\de-|0\.0000")
#: orjson decodes integers up to 64 bits exactly; 19 digits is where doubt begins.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
_DIGITS_AS_ZERO_STR = str.maketrans("123456789", "000000000")
_LONG_DIGITS_STR = "0" * 19


def _refuse(value: Any) -> Any:
    """orjson's ``default``: anything beyond JSON's own types goes to the std path."""
    raise TypeError(type(value).__name__)


if _orjson is not None:
    _OPTIONS = (
        _orjson.OPT_APPEND_NEWLINE
        | _orjson.OPT_PASSTHROUGH_DATACLASS
        | _orjson.OPT_PASSTHROUGH_DATETIME
        | _orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    _orjson_dumps: Callable[..., bytes] = _orjson.dumps
    _orjson_loads: Callable[[bytes | str], Any] = _orjson.loads
    _OrjsonError: type[Exception] = _orjson.JSONDecodeError


def loads(data: bytes | str) -> Any:
    """JSON text (UTF-8 bytes, or any encoding ``json.loads`` detects) as Python values.

    Raises ``ValueError`` (``json.JSONDecodeError`` or ``UnicodeDecodeError``) with the
    standard library's message when the text is not JSON, and ``RecursionError`` when
    it nests too deep for ``json``: callers bound the depth first (see
    :mod:`task_runner.http.json_depth`).
    """
    if _orjson is not None and not _long_number(data):
        try:
            return _orjson_loads(data)
        except _OrjsonError:
            pass  # the standard library decides, and words the error
    return json.loads(data)


def _long_number(data: bytes | str) -> bool:
    """Whether ``data`` holds a run of 19 digits or more: an integer that may not fit in
    64 bits, which orjson turns into a float (``-9223372036854775809`` loses its last
    digits) where ``json`` keeps it exact. A long fraction or digits in a string are
    false alarms that only cost the slower decoder. One ``translate`` and one ``find``:
    a tenth of a regular expression's time."""
    if isinstance(data, bytes):
        return _LONG_DIGITS in data.translate(_DIGITS_AS_ZERO)
    return _LONG_DIGITS_STR in data.translate(_DIGITS_AS_ZERO_STR)


def std_line(item: Any) -> bytes:
    """``item`` as one JSON line with the standard library (the reference output).

    Raises ``TypeError`` for a value JSON cannot hold, ``ValueError`` for a circular one.
    """
    try:
        text = json.dumps(item, allow_nan=False, default=_std_default, **_STD)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
        item = _finite(item)
        text = json.dumps(item, default=_std_default, **_STD)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate: escaped, as UTF-8 cannot hold it
        escaped = json.dumps(item, default=_std_default, separators=_SEPARATORS)
        return escaped.encode("ascii") + b"\n"


def dumps_line(item: Any) -> bytes:
    """``item`` as one JSON line (``\\n``-terminated UTF-8 bytes), byte-identical to
    :func:`std_line`. Raises as :func:`std_line` does."""
    if _orjson is None:
        return std_line(item)
    try:
        line = _orjson_dumps(item, default=_refuse, option=_OPTIONS)
    except TypeError:
        return std_line(item)
    return std_line(item) if _FLOAT_RISK.search(line) else line


def lines(items: Sequence[Any]) -> list[bytes]:
    """Each item as its own JSON line (see :func:`dumps_line`)."""
    if _orjson is None:
        return [std_line(item) for item in items]
    dumps, options = _orjson_dumps, _OPTIONS
    try:  # one comprehension: the common case, every item plain JSON
        out = [dumps(item, default=_refuse, option=options) for item in items]
    except TypeError:  # some item needs the standard library: item by item
        return [dumps_line(item) for item in items]
    # One plain scan of the page for what a risky float needs (``e-`` or ``0.0000``);
    # only a page that has one is checked line by line.
    page = b"".join(out)
    if b"e-" in page or b"0.0000" in page:
        risk = _FLOAT_RISK.search
        for index, line in enumerate(out):
            if risk(line):
                out[index] = std_line(items[index])
    return out


def _std_default(value: Any) -> Any:
    """What orjson writes for the two non-JSON types it encodes natively: a UUID as its
    string, an enum member as its value; anything else is refused as ``json`` does."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    """A copy of ``value`` with ``NaN`` and the infinities as ``None`` (orjson's ``null``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
