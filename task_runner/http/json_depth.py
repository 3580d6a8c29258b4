"""One job: tell how deep JSON text nests, before anything recursive touches it.

Python's ``json`` decoder recurses once per level: a body of 100,000 ``[`` ends in a
``RecursionError``, and data a few hundred levels deep still breaks what walks it later
(the redactor, ``json.dumps(indent=2)`` for display, recordings and HAR files). So the
response decoder refuses text nested deeper than :data:`MAX_JSON_DEPTH` first.

The scan never decodes and never recurses: it drops escapes and strings with bytes
operations, keeps only the brackets, peels the innermost level off a few times (all
that a usual body needs) and counts the rest in one pass. About 1 ms per MB of
ordinary JSON, a few percent of ``json.loads``::

    nesting_exceeds(b"[[1, [2]], {}]", 2)        # True: three levels
    nesting_exceeds(b'["[[[[[[[[[[[["]', 2)      # False: brackets in a string
"""

from __future__ import annotations

import json
from itertools import accumulate

__all__ = ["MAX_JSON_DEPTH", "nesting_exceeds"]

#: How deep a response's arrays and objects may nest. Real APIs stay under 20 or so.
#: The bound is the stack: the redactor's walk takes two frames a level on Python
#: 3.11, and ``test-request`` showed a recorded body failing at 490 levels under the
#: default recursion limit of 1000; 256 keeps half of the stack for the callers.
MAX_JSON_DEPTH = 256

_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
_OBJECTS_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_STEP = tuple(1 if b == ord("[") else -1 if b == ord("]") else 0 for b in range(256))
#: Passes that peel the innermost level off; what is left is counted in one pass.
_PEEL_PASSES = 8


def nesting_exceeds(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``data`` nests arrays and objects deeper than ``limit``.

    Exact for valid JSON; for text that is not JSON the answer does not matter (the
    decoder refuses it anyway).
    """
    if len(data) < 2 * (limit + 1):  # n bytes cannot nest deeper than n / 2
        return False
    data = _as_utf8(data)
    if b"\\" in data:
        # Escapes first, left to right, as a decoder reads them: "\\" then "\"".
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only quotes and brackets are left. Dropping an empty string ("") keeps every
    # other quote's parity, so what lay inside a string still does.
    marks = data.translate(_OBJECTS_AS_ARRAYS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in marks:
        marks = b"".join(marks.split(b'"')[::2])
    levels = 0
    while marks and levels < _PEEL_PASSES:
        # One pass removes exactly one level: every empty pair, but not the pairs that
        # become empty by it (replace does not look at its own output).
        peeled = marks.replace(b"[]", b"")
        if len(peeled) == len(marks):
            break
        marks, levels = peeled, levels + 1
    return levels + max(accumulate(map(_STEP.__getitem__, marks)), default=0) > limit


def _as_utf8(data: bytes) -> bytes:
    """UTF-16 and UTF-32 (which ``json.loads`` accepts) re-encoded, so that every byte
    below 0x80 is the ASCII character it looks like."""
    encoding = json.detect_encoding(data)
    if not encoding.startswith("utf-16") and not encoding.startswith("utf-32"):
        return data
    try:
        return data.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return data
