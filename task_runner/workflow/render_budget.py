"""The budget of one rendering: steps, characters and CPU time, and what things cost.

Each rendering runs inside a :func:`budget_scope` (see :mod:`task_runner.workflow.limits`
for the limits and their environment variables):

* **steps**: every loop iteration, call, filter, operator and ``range()`` item counts one;
* **characters**: no value a template makes or renders may be longer than the limit (a
  list or mapping counts as the text it would print as: :func:`weight`), checked *before*
  it is made wherever the size is known beforehand (``'a' * 10**9``, ``[0] * 10**9``,
  ``9**9**9``, ``'%1000000000d' % 1``, ``'x'.center(10**9)``, ``| replace``, ...), and
  everything made along the way may add up to ten times it;
* **CPU seconds**, checked every few steps.

Going past one raises :class:`TemplateLimitError`, which names the limit (and so how to
raise it). The sandbox (:mod:`task_runner.workflow.sandbox`) calls these from its hooks.

Example::

    with budget_scope(TemplateLimits(chars=100)) as budget:
        check_binop(budget, "*", "a", 10**9)   # TemplateLimitError: ... 1,000,000,000 ...
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.utils import Namespace as JinjaNamespace

from task_runner.workflow.limits import (
    MAX_TEMPLATE_CHARS,
    MAX_TEMPLATE_SECONDS,
    MAX_TEMPLATE_STEPS,
    TOTAL_CHARS_FACTOR,
    Limit,
    TemplateLimits,
)
from task_runner.workflow.sealed import Sealed

__all__ = [
    "Counted",
    "RenderBudget",
    "TemplateLimitError",
    "active_budget",
    "budget_scope",
    "check_binop",
    "check_str_method",
    "count_made",
    "filter_size",
    "filter_steps",
    "percent_size",
    "spec_size",
    "weight",
]


class TemplateLimitError(SecurityError):
    """A template went past one of its limits; ``limit`` says which (and how to raise it)."""

    def __init__(self, message: str, limit: Limit) -> None:
        super().__init__(message)
        self.limit = limit


# --- the budget ------------------------------------------------------------------------------


class RenderBudget:
    """Steps, characters and CPU time left to one rendering (one thread at a time)."""

    __slots__ = ("_checkpoint", "deadline", "limits", "made", "rendered", "steps")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.made = 0
        self.rendered = 0  # the characters of every value rendered in this budget
        self.deadline = time.thread_time() + limits.seconds
        self._checkpoint = 0  # the step count at which to look at the limits again

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps >= self._checkpoint:  # the hot path is one comparison
            self._check_steps()

    def _check_steps(self) -> None:
        if self.steps > self.limits.steps:
            raise TemplateLimitError(
                f"the template was stopped after {self.limits.steps:,} steps "
                "(loop iterations, calls, filters and operators)",
                MAX_TEMPLATE_STEPS,
            )
        self.check_time()
        self._checkpoint = min(self.steps + _STEPS_PER_CLOCK, self.limits.steps + 1)

    def check_time(self) -> None:
        if time.thread_time() > self.deadline:
            raise TemplateLimitError(
                f"the template was stopped after {self.limits.seconds:g} s of CPU time",
                MAX_TEMPLATE_SECONDS,
            )

    def fits(self, size: float, what: str = "a value") -> None:
        """Raise unless a value of ``size`` characters may be made (before making it)."""
        if size > self.limits.chars:
            about = f"about {size:,.0f}" if size < 1e30 else "too many"
            raise TemplateLimitError(
                f"the template would make {what} of {about} characters, more than the "
                f"limit of {self.limits.chars:,}",
                MAX_TEMPLATE_CHARS,
            )

    def render(self, value: Any) -> None:
        """Count a rendered value: all the values rendered within one budget (one parameter,
        one request, or what an enclosing scope covers) add up to at most the limit."""
        if type(value) in _SMALL or type(value) is int:
            return
        size = len(value) if isinstance(value, str) else weight(value, self.limits.chars)
        self.rendered += size
        self.fits(self.rendered, "a rendered value")

    def make(self, size: int, what: str = "a value") -> None:
        """Count ``size`` characters made (a value checked by :meth:`fits` first)."""
        self.fits(size, what)
        self.made += size
        total = self.limits.chars * TOTAL_CHARS_FACTOR
        if self.made > total:
            raise TemplateLimitError(
                f"the template made more than {total:,} characters in all "
                f"({TOTAL_CHARS_FACTOR} times its limit for one value)",
                MAX_TEMPLATE_CHARS,
            )
        if size >= 4096:
            self.check_time()


#: How often (in steps) the CPU clock is read: reading it costs about as much as a step.
_STEPS_PER_CLOCK = 64

_ACTIVE: ContextVar[RenderBudget | None] = ContextVar("task_runner_render_budget", default=None)


@contextlib.contextmanager
def budget_scope(limits: TemplateLimits) -> Iterator[RenderBudget]:
    """Render inside one budget: a new one unless a scope is already open."""
    budget = _ACTIVE.get()
    if budget is not None:
        yield budget
        return
    budget = RenderBudget(limits)
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def active_budget() -> RenderBudget:
    budget = _ACTIVE.get()
    if budget is None:  # also how compile-time constant folding is kept away from filters
        raise SecurityError("templates are rendered only inside a budget (budget_scope)")
    return budget


# --- how big a value is as text ----------------------------------------------------------------


def weight(value: Any, limit: float) -> int:
    """About how many characters ``value`` takes as text (``str``, ``repr``, JSON),
    counted only up to just past ``limit``: a list that holds one big string a thousand
    times weighs a thousand times that string, though it costs little memory, because
    printing it would not. Raises :class:`SealedError` on ``env`` or ``secrets`` inside."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        kind = type(v)
        if kind is str:
            total += len(v) + 2
        elif kind in _SMALL:
            total += 8
        elif kind is int:
            total += _digits(v)
        elif kind is list or kind is tuple:
            total += 2 + 2 * len(v)
            if total <= limit:
                stack.extend(v)
        elif kind is dict:
            total += 2 + 4 * len(v)
            if total <= limit:
                stack.extend(v.keys())
                stack.extend(v.values())
        else:
            total += _weigh_other(v, stack, limit)
        if total > limit:
            return total
    return total


_SMALL = frozenset({float, bool, type(None)})


def _weigh_other(v: Any, stack: list[Any], limit: float) -> int:
    """:func:`weight` for the types that need ``isinstance`` (subclasses, ABCs)."""
    if isinstance(v, str):
        return len(v) + 2
    if isinstance(v, Sealed):
        raise v.refusal()
    if isinstance(v, Mapping):
        if 2 + 4 * len(v) <= limit:
            stack.extend(v.keys())
            stack.extend(v.values())
        return 2 + 4 * len(v)
    if isinstance(v, (list, tuple, set, frozenset)):
        if 2 + 2 * len(v) <= limit:
            stack.extend(v)
        return 2 + 2 * len(v)
    if isinstance(v, JinjaNamespace):
        stack.append(v._Namespace__attrs)  # type: ignore[attr-defined]
        return 0
    if isinstance(v, (bytes, bytearray)):
        return len(v) + 3
    if isinstance(v, int) and not isinstance(v, bool):
        return _digits(v)
    return 8


def _digits(n: int) -> int:
    return int(abs(n).bit_length() * 0.30103) + 2


# --- what a call, filter or operator would make ------------------------------------------------


class Counted(Iterator[Any]):
    """An iterator that counts a step per item (loops, and lazy filter results)."""

    __slots__ = ("_budget", "_it")

    def __init__(self, iterable: Iterable[Any], budget: RenderBudget) -> None:
        self._it = iter(iterable)
        self._budget = budget

    def __next__(self) -> Any:
        item = next(self._it)
        self._budget.step()
        return item


def count_made(budget: RenderBudget, result: Any, what: str = "a value") -> Any:
    """Count what a call or filter made; lazy results count a step per item."""
    if isinstance(result, (str, bytes, list, tuple, dict, set, frozenset)):
        budget.make(len(result), what)
    elif isinstance(result, int) and not isinstance(result, bool) and result.bit_length() > 64:
        budget.make(_digits(result), "an integer")
    elif isinstance(result, Iterator) and not isinstance(result, (Counted, LoopContext)):
        return Counted(result, budget)
    return result


def _huge(text: str) -> float:
    """A number written in a format spec (``1000000000`` in ``{:>1000000000}``)."""
    return math.inf if len(text) > 15 else int(text)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)


def percent_size(budget: RenderBudget, fmt: str, args: Any) -> float:
    """How long ``fmt % args`` may get: widths and precisions, ``*`` ones included."""
    size: float = len(fmt)
    star = False
    for match in _PERCENT_SPEC.finditer(fmt):
        for number in match.group(1, 2):
            if number == "*":
                star = True
            elif number:
                size += _huge(number)
    if isinstance(args, Mapping):
        values = list(args.values())
    elif isinstance(args, tuple):
        values = list(args)
    else:
        values = [args]
    size += weight(values, budget.limits.chars)
    if star:
        size += sum(v for v in values if isinstance(v, int) and v > 0)
    return size


def spec_size(spec: str) -> float:
    return max((_huge(n) for n in re.findall(r"\d+", spec)), default=0)


def check_binop(budget: RenderBudget, operator: str, left: Any, right: Any) -> None:
    limit = budget.limits.chars
    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and n > 0:
                unit = len(seq) if isinstance(seq, str) else weight(seq, limit)
                budget.fits(unit * n, "a repeated value")
                return
        if isinstance(left, int) and isinstance(right, int):
            budget.fits(_digits(left) + _digits(right), "an integer")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            budget.fits(right * math.log10(abs(left)), "an integer")
    elif operator == "%" and isinstance(left, str):
        budget.fits(percent_size(budget, left, right), "a formatted text")
    elif operator == "+":
        both = (str, list, tuple)
        if isinstance(left, both) and isinstance(right, both):
            budget.fits(len(left) + len(right), "a joined value")


_STR_WIDTH_METHODS = {"center": 0, "ljust": 0, "rjust": 0, "zfill": 0}


def check_str_method(budget: RenderBudget, method: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    """Size checks for ``'x'.center(10**9)`` and friends; returns the args to call with."""
    text, name = method.__self__, method.__name__
    if name in _STR_WIDTH_METHODS and args and isinstance(args[0], int):
        budget.fits(args[0], "a padded text")
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int):
            budget.fits(len(text) + text.count("\t") * tab, "a text")
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        budget.fits(_replace_size(text, args[0], args[1], count), "a text")
    elif name == "join" and args:
        items = list(args[0])
        budget.fits(len(text) * max(len(items) - 1, 0) + weight(items, budget.limits.chars))
        return (items, *args[1:])
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        budget.fits(len(text) * max(longest, 1), "a text")
    return args


def _replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> float:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return 0
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def filter_size(name: str, budget: RenderBudget, a: dict[str, Any]) -> float:
    """What ``name`` would make from its arguments ``a`` (the value first), where that is
    known beforehand."""
    limit = budget.limits.chars
    value = next(iter(a.values()), None)
    if name == "center" and isinstance(a.get("width"), int):
        return weight(value, limit) + a["width"]
    if name == "indent":
        width = a.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        lines = value.count("\n") + 1 if isinstance(value, str) else weight(value, limit)
        return weight(value, limit) + lines * pad
    if name == "wordwrap":
        size = weight(value, limit)
        width = a.get("width", 79)
        breaks = size // max(width, 1) + 1 if isinstance(width, int) else size
        return size + breaks * len(a.get("wrapstring") or "\n")
    if name == "batch" and a.get("fill_with") is not None:
        count = a.get("linecount", 0)
        return count if isinstance(count, int) else 0
    if name == "format":
        return percent_size(budget, str(value), a.get("args") or a.get("kwargs") or ())
    if name == "replace":
        return _replace_size(value, a.get("old"), a.get("new"), a.get("count") or -1)
    if name == "tojson":
        indent = a.get("indent")
        pad = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
        return weight(value, limit) * (1 + 4 * pad)
    return 0


def filter_steps(name: str, a: dict[str, Any]) -> int:
    """Steps for the filters whose cost grows faster than their input (one step for about
    a thousand characters copied): ``wordwrap`` re-slices a long word for every line it
    breaks off, ``striptags`` copies the text for every tag it removes."""
    value = next(iter(a.values()), None)
    if not isinstance(value, str):
        return 0
    if name == "wordwrap":
        width = a.get("width", 79)
        longest = max(map(len, value.split()), default=0)
        return longest * longest // max(width if isinstance(width, int) else 1, 1) // 1000
    if name == "striptags":
        return value.count("<") * len(value) // 1000
    return 0
