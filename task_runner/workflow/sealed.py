"""``env`` and ``secrets`` as templates see them: read by name, never whole.

``{{ env.HOME }}`` and ``{{ secrets.TOKEN }}`` read one variable. ``{{ env }}``, ``env |
list``, ``env | tojson``, ``env.items()``, ``'%s' % env``, ``'{}'.format(env)``, ``env ~
''``, ``{% for k in env %}`` and every other way of using the whole mapping raise
:class:`SealedError`, whose message says to read one name instead and never carries a
value: it would otherwise print the whole process environment into a terminal, a log and
the run history.

Example::

    context = seal({"env": Namespace("env", os.environ)})
    context["env"]["HOME"]    # "/root"
    str(context["env"])       # SealedError: env cannot be used whole ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from jinja2.exceptions import SecurityError

__all__ = ["SEALED_NAMESPACES", "Sealed", "SealedError", "seal"]

#: The namespaces that are sealed, and what one of their values is called.
SEALED_NAMESPACES = {
    "env": "environment variable",
    "secrets": "secret",
}


class SealedError(SecurityError):
    """``env`` or ``secrets`` used whole; the message names what to write instead."""


class Sealed(Mapping[str, Any]):
    """``env``/``secrets`` as templates see them: ``env.NAME`` reads one variable; using
    the whole mapping (printing, iterating, ``| list``, ``| tojson``, ``.items()``,
    formatting, ``~``) raises :class:`SealedError`."""

    __slots__ = ("_inner", "label")

    def __init__(self, label: str, inner: Mapping[str, Any]) -> None:
        self.label = label
        self._inner = inner

    def __getitem__(self, name: str) -> Any:
        return self._inner[name]

    def __contains__(self, name: object) -> bool:
        try:
            self._inner[name]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True

    def refusal(self) -> SealedError:
        what = SEALED_NAMESPACES.get(self.label, "value")
        return SealedError(
            f"{self.label} cannot be used whole (it would show every {what}); "
            f"read one {what} by name, as {self.label}.NAME"
            + (f" or {self.label}.NAME | default('...')" if self.label == "env" else "")
        )

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise self.refusal()

    __iter__ = __len__ = __str__ = __repr__ = __format__ = _refuse  # type: ignore[assignment]
    __reversed__ = keys = items = values = _refuse  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


def seal(context: Mapping[str, Any]) -> dict[str, Any]:
    """The template context with ``env`` and ``secrets`` wrapped in :class:`Sealed`."""
    sealed = dict(context)
    for name in SEALED_NAMESPACES:
        inner = sealed.get(name)
        if isinstance(inner, Mapping) and not isinstance(inner, Sealed):
            sealed[name] = Sealed(name, inner)
    return sealed
