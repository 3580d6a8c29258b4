"""One job: the comparisons of an ``expect`` check, with JSON's idea of equality.

A predicate is one operator and its operand, as written in YAML: ``exists: true``,
``"==": 3``, ``"!=": x``, ``"<"``, ``"<="``, ``">"``, ``">="``, ``matches: REGEX``
(searched, like ``re.search``), ``in: [a, b]``. Values are compared as JSON values:
``true`` is not ``1``, ``1`` is ``1.0``, and ordering needs two numbers or two strings.
A missing value fails every predicate but ``exists: false``. Header values are text;
against a number or a boolean operand they are read as one (``"3599" > 10``).

Example::

    [p] = parse_predicates({">": 0}, where="checks[0]")
    p.test(5), p.test("5"), p.test("5", text=True)    # (True, False, True)
    p.expected                                        # '> 0'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from task_runner.pointer import MISSING

__all__ = ["OPERATORS", "Predicate", "parse_predicates", "same", "show"]

#: Every operator a check may use, in the order results are reported.
OPERATORS = ("exists", "==", "!=", "<", "<=", ">", ">=", "matches", "in")
_ORDERING = {"<", "<=", ">", ">="}

#: How much of a value a message quotes.
SHOWN_CHARS = 160


def show(value: Any) -> str:
    """A value as a message quotes it: JSON, cut to :data:`SHOWN_CHARS`; ``missing``."""
    if value is MISSING:
        return "missing"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # a value deeper than json can walk
        text = f"<{type(value).__name__}>"
    if len(text) > SHOWN_CHARS:
        text = f"{text[: SHOWN_CHARS - 20]} ... ({len(text):,} characters)"
    return text


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, ``true`` never ``1``, containers element-wise."""
    if _number(a) and _number(b):
        return bool(a == b)
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def _as_operand_type(value: Any, operand: Any) -> Any:
    """A header's text read as the operand's type (a number or a boolean), when it is one."""
    if not isinstance(value, str):
        return value
    if isinstance(operand, bool):
        lowered = value.strip().lower()
        return {"true": True, "false": False}.get(lowered, value)
    if _number(operand):
        for kind in (int, float):
            try:
                return kind(value.strip())
            except ValueError:
                continue
    return value


@dataclass(frozen=True)
class Predicate:
    """One operator and its operand; ``pattern`` is the compiled ``matches`` regex."""

    op: str
    operand: Any
    pattern: re.Pattern[str] | None = None

    @property
    def expected(self) -> str:
        if self.op == "exists":
            return "exists" if self.operand else "absent"
        if self.op == "matches":
            return f"matches {show(self.operand)}"
        return f"{self.op} {show(self.operand)}"

    def test(self, value: Any, *, text: bool = False) -> bool:
        """Whether ``value`` passes; ``text``: it is a header value (see the module doc)."""
        if self.op == "exists":
            return (value is not MISSING) is bool(self.operand)
        if value is MISSING:
            return False
        if self.op == "in":
            return any(self._equal(value, option, text) for option in self.operand)
        if self.op == "==":
            return self._equal(value, self.operand, text)
        if self.op == "!=":
            return not self._equal(value, self.operand, text)
        if self.op == "matches":
            subject = value if isinstance(value, str) else show(value)
            return self.pattern is not None and self.pattern.search(subject) is not None
        return self._order(_as_operand_type(value, self.operand) if text else value)

    @staticmethod
    def _equal(value: Any, operand: Any, text: bool) -> bool:
        return same(_as_operand_type(value, operand) if text else value, operand)

    def _order(self, value: Any) -> bool:
        operand = self.operand
        if not (_number(value) and _number(operand)) and not (
            isinstance(value, str) and isinstance(operand, str)
        ):
            return False  # 3 < "4" has no answer in JSON: the check fails
        if self.op == "<":
            return bool(value < operand)
        if self.op == "<=":
            return bool(value <= operand)
        if self.op == ">":
            return bool(value > operand)
        return bool(value >= operand)


def parse_predicates(raw: Mapping[str, Any], *, where: str) -> list[Predicate]:
    """The predicates among ``raw``'s keys (others are left to the caller), validated.

    Raises ``ValueError`` naming ``where`` for a bad operand: a regex that does not
    compile, ``in`` without a list, an ordering against something neither a number nor
    a string, ``exists`` that is not a boolean.
    """
    found: list[Predicate] = []
    for op in OPERATORS:
        if op not in raw:
            continue
        operand = raw[op]
        pattern = None
        if op == "exists" and not isinstance(operand, bool):
            raise ValueError(f"{where}: exists is true or false, not {show(operand)}")
        if op == "in" and not isinstance(operand, list):
            raise ValueError(f"{where}: in needs a list of values, not {show(operand)}")
        if op in _ORDERING and not (_number(operand) or isinstance(operand, str)):
            raise ValueError(f"{where}: {op} compares with a number or a string")
        if op == "matches":
            if not isinstance(operand, str):
                raise ValueError(f"{where}: matches needs a regular expression (a string)")
            try:
                pattern = re.compile(operand)
            except re.error as exc:
                raise ValueError(
                    f"{where}: matches {show(operand)} is not a regex: {exc}"
                ) from None
        found.append(Predicate(op, operand, pattern))
    return found
