"""The template sandbox: jinja2's immutable sandbox, every step of it on a budget.

Templates come from workflow files, which may have been written to hurt, and they are
rendered by ``validate`` too. :class:`BoundedSandbox` runs each loop iteration, call,
filter, operator, ``~`` and ``{{ output }}`` through the :class:`RenderBudget` of the
current :func:`budget_scope` (see :mod:`task_runner.workflow.render_budget`):

* ``{% for %}`` iterates through :meth:`BoundedSandbox.bounded_iter` (the code generator
  wraps every loop's iterable), and ``range()`` counts its items;
* operators are intercepted (``call_binop``), so ``'a' * 10**9`` is refused before it is
  computed, and never folded while compiling (the optimizer is off);
* every filter is wrapped: a step, its value refused when it would print too long, sized
  filters (``center``, ``indent``, ``join``, ``replace``, ``batch``, ...) checked before
  they run, lazy results counted per item;
* ``str.format`` fields, ``%`` specs and padding methods are checked before they are made;
* a template's output is counted as it is made; ``lipsum`` is gone; ``namespace``
  assignments count; the sandbox is the immutable one (no ``list.append``).

Example::

    env = BoundedSandbox()
    with budget_scope(TemplateLimits()):
        env.from_string("{{ 'a' * 10**9 }}").render()   # TemplateLimitError
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sized
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import make_attrgetter
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import Namespace as JinjaNamespace
from markupsafe import Markup

from task_runner.workflow.render_budget import (
    Counted,
    active_budget,
    check_binop,
    check_str_method,
    count_made,
    filter_size,
    filter_steps,
    spec_size,
    weight,
)

__all__ = ["BoundedSandbox", "check_result"]


# --- filters -------------------------------------------------------------------------------------

#: Filters that do not turn their value into text; any other filter is refused a value
#: that would print longer than the limit, before it runs.
_COLLECTION_FILTERS = frozenset(
    [
        "abs",
        "attr",
        "batch",
        "count",
        "d",
        "default",
        "dictsort",
        "filesizeformat",
        "first",
        "float",
        "groupby",
        "int",
        "items",
        "join",
        "last",
        "length",
        "list",
        "map",
        "max",
        "min",
        "random",
        "reject",
        "rejectattr",
        "reverse",
        "round",
        "select",
        "selectattr",
        "slice",
        "sort",
        "sum",
        "unique",
    ]
)


def _arguments(
    signature: inspect.Signature, passes: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """A filter's arguments by name, the value first (without jinja's context argument)."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None  # let the filter itself say what is wrong with its arguments
    named = dict(bound.arguments)
    if passes and named:
        named.pop(next(iter(named)))
    return named


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` counted as a step, refused what it would make too big, its result counted."""
    try:
        signature: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None
    passes = getattr(func, "jinja_pass_arg", None) is not None
    serializes = name not in _COLLECTION_FILTERS

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = active_budget()
        budget.step()
        first = 1 if passes else 0
        if serializes and len(args) > first:
            budget.fits(weight(args[first], budget.limits.chars), f"a value for | {name}")
        if signature is not None and name in _SIZED_FILTERS:
            named = _arguments(signature, passes, args, kwargs)
            if named is not None:
                budget.fits(filter_size(name, budget, named), f"the result of | {name}")
                budget.step(filter_steps(name, named))
        return count_made(budget, func(*args, **kwargs), f"the result of | {name}")

    return guarded


_SIZED_FILTERS = frozenset(
    {"center", "indent", "wordwrap", "batch", "format", "replace", "tojson", "striptags"}
)


def _bounded_join_filter(join: Callable[..., str]) -> Callable[..., str]:
    """``| join``: the items are counted, and the joined text checked before it is made."""

    @wraps(join)
    def bounded_join(
        eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None
    ) -> str:
        budget = active_budget()
        items = list(value)
        budget.fits(
            len(str(d)) * max(len(items) - 1, 0) + weight(items, budget.limits.chars),
            "the result of | join",
        )
        return join(eval_ctx, items, d, attribute)

    return bounded_join


def _bounded_sum_filter(total: Callable[..., Any]) -> Callable[..., Any]:
    """``| sum``: adding lists copies everything added so far, so it costs steps by the
    square of what it adds, counted (and the result's length checked) before it runs."""

    @wraps(total)
    def bounded_sum(
        environment: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
    ) -> Any:
        budget = active_budget()
        items = list(iterable)
        if attribute is not None:
            items = list(map(make_attrgetter(environment, attribute), items))
        if not isinstance(start, (int, float)):
            size = sum(len(x) if isinstance(x, Sized) else 1 for x in items)
            budget.fits(size, "the result of | sum")
            budget.step(len(items) * size // 2000)
        return total(environment, items, None, start)

    return bounded_sum


# --- the environment -----------------------------------------------------------------------------


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``{% for %}`` to iterate through the budget and ``~`` to check its parts."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        node.iter = _env_call("bounded_iter", [node.iter], node.iter.lineno, self.environment)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _env_call(name: str, args: list[Any], lineno: int, environment: Any) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None, lineno=lineno)
    call.set_lineno(lineno)
    call.set_environment(environment)
    return call


class _BoundedNamespace(JinjaNamespace):
    """``namespace()``: setting an attribute (``{% set ns.x = ... %}``) counts a step."""

    def __setitem__(self, name: str, value: Any) -> None:
        active_budget().step()
        super().__setitem__(name, value)


class _FormatGuard:
    """``str.format`` fields are checked before they are formatted."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        budget = active_budget()
        budget.fits(weight(value, budget.limits.chars), "a formatted value")
        return super().convert_field(value, conversion)  # type: ignore[misc]

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = active_budget()
        budget.step()
        budget.fits(
            weight(value, budget.limits.chars) + spec_size(format_spec), "a formatted value"
        )
        return super().format_field(value, format_spec)  # type: ignore[misc]


class _BoundedFormatter(_FormatGuard, SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_FormatGuard, SandboxedEscapeFormatter):
    pass


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox; every loop iteration, call, filter and operator runs
    against the :class:`RenderBudget` of the current :func:`budget_scope`."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "**", "%"})

    def __init__(self, **options: Any) -> None:
        # The optimizer would evaluate constant expressions (``'a' * 10**9``) while
        # compiling, outside any budget; values are computed only when rendered.
        options.setdefault("optimized", False)
        super().__init__(**options)
        self.finalize = self._check_output
        self.globals["range"] = _bounded_range
        self.globals["namespace"] = _BoundedNamespace
        self.globals.pop("lipsum", None)  # lipsum(10**9) writes a billion paragraphs
        self.guard_filters()

    def guard_filters(self) -> None:
        """Wrap every filter (call again after adding filters)."""
        for name, func in list(self.filters.items()):
            if getattr(func, "_task_runner_guarded", False):
                continue
            if name == "join":
                func = _bounded_join_filter(func)
            elif name == "sum":
                func = _bounded_sum_filter(func)
            guarded = _guard_filter(name, func)
            guarded._task_runner_guarded = True  # type: ignore[attr-defined]
            self.filters[name] = guarded

    # -- hooks the compiled templates call -------------------------------------------------------

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = active_budget()
        budget.step()
        if isinstance(getattr(__obj, "__self__", None), str) and callable(__obj):
            args = check_str_method(budget, __obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return count_made(budget, result)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = active_budget()
        budget.step()
        check_binop(budget, operator, left, right)
        return count_made(budget, self.binop_table[operator](left, right))

    def bounded_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        return Counted(iterable, active_budget())

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        budget = active_budget()
        budget.step()
        limit = budget.limits.chars
        budget.fits(sum(len(p) if type(p) is str else weight(p, limit) for p in parts), "a text")
        text = "".join(map(str, parts))
        budget.make(len(text), "a joined text")
        return text

    def concat(self, chunks: Iterable[str]) -> str:  # type: ignore[override]
        """The output of a template, a macro or a block: stopped as soon as it is too long."""
        budget = active_budget()
        limit = budget.limits.chars
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                budget.fits(size, "an output")
            parts.append(chunk)
        budget.make(size, "an output")
        return "".join(parts)

    def _check_output(self, value: Any) -> Any:
        """``{{ value }}``: refused before it is turned into text when too big (or sealed)."""
        if type(value) not in _PLAIN_OUTPUT:
            budget = active_budget()
            budget.fits(weight(value, budget.limits.chars), "an output")
        return value

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """jinja2's sandboxed ``str.format``, with fields checked before they are made."""
        if getattr(value, "__name__", None) not in ("format", "format_map"):
            return None
        text = getattr(value, "__self__", None)
        if not isinstance(text, str) or not callable(value):
            return None
        formatter: SandboxedFormatter
        if isinstance(text, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=text.escape)
        else:
            formatter = _BoundedFormatter(self)
        is_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return type(text)(formatter.vformat(text, args, kwargs))

        return wraps(value)(wrapper)


_PLAIN_OUTPUT = frozenset({str, int, float, bool, type(None)})


def _bounded_range(*args: int) -> range:
    """``range()``, each item counted as a step when it is made."""
    budget = active_budget()
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:  # more items than a C integer holds
        size = budget.limits.steps + 1
    budget.step(size)
    return numbers


def check_result(value: Any) -> None:
    """A template's value: refused when it (with the values rendered before it in the same
    budget) would print too long, or holds ``env`` or ``secrets`` whole."""
    active_budget().render(value)
