"""One job: read a value out of a JSON body by JSON pointer (RFC 6901).

Profiles and definitions say where things are in a response with pointers: the items
(``/data``), the next cursor (``/data/-1/id``), a ``has_more`` flag, the next page's URL.
One extension to RFC 6901: a negative array index counts from the end (``-1`` is the last
element), since "the id of the last item" is how cursor APIs name their cursor.

Example::

    resolve({"data": [{"id": 1}, {"id": 2}]}, "/data/-1/id")   # 2
    resolve([1, 2], "")                                        # [1, 2]
"""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING", "resolve"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: What :func:`resolve` returns when the pointer leads nowhere.
MISSING: Any = _Missing()


def resolve(document: Any, pointer: str) -> Any:
    """The value at ``pointer`` in ``document``, or :data:`MISSING`.

    ``""`` (and ``"/"`` as a convenience) is the whole document. ``~1`` is ``/`` and
    ``~0`` is ``~`` inside a token (RFC 6901 section 4).
    """
    if pointer in ("", "/"):
        return document
    if not pointer.startswith("/"):
        return MISSING
    value = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            if token not in value:
                return MISSING
            value = value[token]
        elif isinstance(value, list):
            try:
                index = int(token)
            except ValueError:
                return MISSING
            if not -len(value) <= index < len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value
