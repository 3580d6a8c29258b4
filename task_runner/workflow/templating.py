"""Jinja templates in workflow values: sandboxed, strict, compiled once.

A value that is exactly one expression keeps its native type (``"{{ inputs.project_id }}"``
renders to ``777``, not ``"777"``); any other template renders to a string. Namespaces:
``inputs``, ``env``, ``secrets``, ``tasks`` and ``run``. Every value read through
``secrets`` is registered with the redactor, so it is masked wherever it is shown.

Mappings are read by key first (``tasks.list_images.output.items`` is the ``items`` key,
not ``dict.items``); use the ``items``/``dictsort`` filters to iterate a mapping.

Templates come from files that may have been written to hurt, and ``validate`` renders
them too: each rendering has a budget of steps, characters and CPU time
(:mod:`task_runner.workflow.sandbox`, limits in :mod:`task_runner.workflow.limits`), and
``env``/``secrets`` are read one name at a time, never whole
(:mod:`task_runner.workflow.sealed`). Messages quote a template's source cut short.

Example::

    engine = TemplateEngine()
    engine.render("{{ inputs.n + 1 }}", {"inputs": Namespace("inputs", {"n": 1})})  # 2
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError, TemplateRuntimeError

from task_runner.durations import parse_duration
from task_runner.errors import SourceLocation, TemplateError
from task_runner.formats import parse_date, parse_datetime
from task_runner.redact import MASK, REDACTOR
from task_runner.workflow.limits import TemplateLimits, excerpt, shorten
from task_runner.workflow.render_budget import RenderBudget, TemplateLimitError, budget_scope
from task_runner.workflow.sandbox import BoundedSandbox, check_result
from task_runner.workflow.sealed import SealedError, seal

__all__ = [
    "NAMESPACES",
    "RUN_VARIABLES",
    "CompiledTemplate",
    "Namespace",
    "PlaceholderSecrets",
    "SecretsNamespace",
    "TemplateEngine",
    "is_template",
]

NAMESPACES = ("inputs", "env", "secrets", "tasks", "run")
RUN_VARIABLES = (
    "id",
    "workflow",
    "trigger",
    "started_at",
    "scheduled_at",
    "window_start",
    "window_end",
    "previous_success_at",
)

_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)

HINTS = {
    "inputs": "declare it under `inputs:` and pass --input {name}=VALUE, or give it a default",
    "secrets": "set the environment variable {name} (or add {name}=... to .env)",
    "env": "set the environment variable {name}, or write env.{name} | default('...')",
    "tasks": "name an earlier task of this workflow and read its .output",
    "run": "run variables are: " + ", ".join(RUN_VARIABLES),
}


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


class Namespace(dict):  # type: ignore[type-arg]
    """A dict that knows its dotted name, for "inputs.x is undefined" messages."""

    def __init__(self, label: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data or {})
        self.label = label


class PlaceholderSecrets(Mapping[str, str]):
    """Secrets for previews (dry runs, validation): the real value when set, else ``***``.

    Nothing is sent in a preview, so a missing secret must not stop it.
    """

    label = "secrets"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._real = SecretsNamespace(environ)

    def __getitem__(self, name: str) -> str:
        try:
            return self._real[name]
        except KeyError:
            return MASK

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


#: The secrets read by the template being rendered in this context (see
#: :meth:`CompiledTemplate.__call__`): a rendering that read one has its output registered
#: as a secret too, so ``{{ secrets.KEY | upper }}`` or ``| reverse`` is masked as well.
_SECRETS_READ: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "task_runner_secrets_read", default=None
)


def register_derived(value: Any) -> None:
    """Register every string in ``value`` (a rendered template that read a secret: a
    string, or the lists and mappings a native expression gives) with the redactor.

    Masking matches the registered text exactly, so a value computed from a secret
    (upper-cased, reversed, joined, replaced) would otherwise be shown as it is."""
    if isinstance(value, str):
        REDACTOR.add(value, source="a template that reads secrets")
    elif isinstance(value, Mapping):
        for item in value.values():
            register_derived(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            register_derived(item)


class SecretsNamespace(Mapping[str, str]):
    """``secrets.NAME``: environment variable NAME, else NAME from a ``.env`` file.

    Every value handed out is registered with the redactor first.
    """

    label = "secrets"

    def __init__(
        self, environ: Mapping[str, str] | None = None, dotenv: str | Path | None = ".env"
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._dotenv_path = Path(dotenv) if dotenv else None
        self._dotenv: dict[str, str] | None = None

    def _file_values(self) -> dict[str, str]:
        if self._dotenv is None:
            self._dotenv = read_dotenv(self._dotenv_path) if self._dotenv_path else {}
        return self._dotenv

    def __getitem__(self, name: str) -> str:
        value = self._environ.get(name)
        if value is None:
            value = self._file_values()[name]
        REDACTOR.add(value)
        reads = _SECRETS_READ.get()
        if reads is not None:
            reads.append(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(())  # never enumerate secrets into output

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<secrets>"


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` prefix, quotes and ``#`` comments allowed)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


# --- filters -------------------------------------------------------------------------


def _to_datetime(value: Any) -> dt.datetime | dt.date:
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return parse_date(value)
    raise TypeError(f"{value!r} is not a date or date-time")


def filter_iso(value: Any) -> str:
    """A date-time as ``2024-05-01T06:00:00Z`` (UTC), a date as ``2024-05-01``."""
    moment = _to_datetime(value)
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        moment = moment.astimezone(dt.timezone.utc).replace(microsecond=0)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def filter_iso_date(value: Any) -> str:
    moment = _to_datetime(value)
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.timezone.utc).date() if moment.tzinfo else moment.date()
    return moment.isoformat()


def filter_iso_range(start: Any, end: Any) -> str:
    """``start | iso_range(end)`` -> ``START...END`` in Procore's range form."""
    return f"{filter_iso(start)}...{filter_iso(end)}"


def filter_shift(value: Any, duration: Any) -> dt.datetime | dt.date:
    """``run.window_start | shift('-1d')``: add a (possibly negative) duration."""
    text = str(duration).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    seconds = sign * parse_duration(
        text.lstrip("+-") if isinstance(duration, str) else abs(duration)
    )
    return _to_datetime(value) + dt.timedelta(seconds=seconds)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def filter_url_component(value: Any) -> str:
    """One URL path segment or query value, percent-encoded with nothing left as is
    (raw request URLs apply it to every expression); booleans as ``true``/``false``."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return quote(text, safe="")


FILTERS: dict[str, Callable[..., Any]] = {
    "iso": filter_iso,
    "iso_date": filter_iso_date,
    "iso_range": filter_iso_range,
    "shift": filter_shift,
    "url_component": filter_url_component,
}


# --- the environment -----------------------------------------------------------------


class _Environment(BoundedSandbox):
    """Sandboxed, bounded and strict; mappings are read by key before attribute."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=attribute, hint=_undefined_hint(obj, attribute))
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping) and isinstance(argument, str):
            return self.getattr(obj, argument)
        return super().getitem(obj, argument)


def _undefined_hint(obj: Any, name: str) -> str:
    label = getattr(obj, "label", None)
    if label is None:
        return f"{name!r} is undefined"
    namespace = label.split(".", 1)[0]
    hint = HINTS.get(namespace, "").format(name=name)
    if namespace == "tasks" and "." in label:  # tasks.<name>.x
        # what this object really has: the output's attributes, or `output`
        hint = f"{label} has " + ", ".join(str(k) for k in obj)
    return f"{label}.{name} is undefined" + (f": {hint}" if hint else "")


class CompiledTemplate:
    """One compiled template; ``native`` when the whole value is one expression.

    Calling it renders within the :class:`~task_runner.workflow.limits.TemplateLimits`
    (in the budget of an enclosing :meth:`TemplateEngine.budget`, if any), with ``env``
    and ``secrets`` sealed (see :mod:`task_runner.workflow.sandbox`).
    """

    __slots__ = ("_fn", "limits", "native", "source")

    def __init__(
        self,
        source: str,
        fn: Callable[[Mapping[str, Any]], Any],
        native: bool,
        limits: TemplateLimits | None = None,
    ) -> None:
        self.source = source
        self._fn = fn
        self.native = native
        self.limits = limits or TemplateLimits()

    def __call__(self, context: Mapping[str, Any]) -> Any:
        reads: list[str] = []
        token = _SECRETS_READ.set(reads)
        try:
            with budget_scope(self.limits):
                value = self._fn(seal(context))
                check_result(value)
        finally:
            _SECRETS_READ.reset(token)
        if reads and not self._verbatim(context, reads, value):
            register_derived(value)  # what it made of a secret is as secret as the secret
        return value

    def _verbatim(self, context: Mapping[str, Any], reads: list[str], value: Any) -> bool:
        """True when ``value`` (a string) holds the secrets it read only as they are, so
        masking them is enough and the text around them stays readable (``tag-***``).

        Renders again with a stand-in mark for each secret: if putting the secrets back
        in place of the marks gives ``value``, no filter or slice changed them."""
        if not isinstance(value, str):
            return False
        if value in REDACTOR:
            return True  # the secret itself, as it is (a token, a password)
        secrets = context.get("secrets")
        if not isinstance(secrets, Mapping):
            return False
        values = {name: secrets[name] for name in dict.fromkeys(reads)}
        marks = {name: f"\ue000{i}\ue001" for i, name in enumerate(values)}
        probe_context = {**context, "secrets": marks}
        try:
            with budget_scope(self.limits):
                probe = self._fn(seal(probe_context))
        except Exception:  # a filter that parses its input refuses a mark: mask it whole
            return False
        if not isinstance(probe, str):
            return False
        for name, mark in marks.items():
            probe = probe.replace(mark, values[name])
        return probe == value


class TemplateEngine:
    """Compiles each template source once (thread-safe cache) and renders it, each
    rendering bounded by ``limits`` (by default from the environment, see
    :mod:`task_runner.workflow.limits`)."""

    def __init__(self, limits: TemplateLimits | None = None) -> None:
        self.limits = limits or TemplateLimits.from_environ()
        self.env = _Environment(undefined=StrictUndefined, autoescape=False)
        self.env.filters.update(FILTERS)
        self.env.guard_filters()
        self.env.globals.update({"now": _now})
        self._cache: dict[str, CompiledTemplate] = {}
        self._lock = threading.Lock()

    def budget(self) -> contextlib.AbstractContextManager[RenderBudget]:
        """One budget for everything rendered inside, e.g. all the values of one task::

        with engine.budget():
            params = {k: engine.render_value(v, context) for k, v in raw.items()}
        """
        return budget_scope(self.limits)

    def compile(self, source: str) -> CompiledTemplate:
        """Compile (or fetch from the cache); raises jinja2's TemplateSyntaxError."""
        compiled = self._cache.get(source)
        if compiled is not None:
            return compiled
        try:
            compiled = self._compile(source)
        except (RecursionError, MemoryError, SyntaxError) as exc:
            # Thousands of nested brackets overflow jinja2's parser or Python's compiler.
            problem = (
                "the template nests too deeply" if not isinstance(exc, SyntaxError) else str(exc)
            )
            raise TemplateSyntaxError(problem, 1) from None
        with self._lock:
            self._cache[source] = compiled
        return compiled

    def _compile(self, source: str) -> CompiledTemplate:
        m = _SINGLE_EXPR.match(source)
        if m and "{{" not in m.group("expr") and "}}" not in m.group("expr"):
            expr = self.env.compile_expression(m.group("expr"), undefined_to_none=False)
            return CompiledTemplate(source, lambda ctx: expr(**ctx), True, self.limits)
        template = self.env.from_string(source)
        return CompiledTemplate(source, template.render, False, self.limits)

    def render(
        self,
        source: str,
        context: Mapping[str, Any],
        *,
        location: SourceLocation | None = None,
        path: str | None = None,
    ) -> Any:
        """Render one template, turning every Jinja failure into a located TemplateError."""
        where = f"(in template {excerpt(source)})"
        try:
            value = self.compile(source)(context)
        except TemplateSyntaxError as exc:
            raise TemplateError(
                f"template syntax error: {exc.message} {where}", location=location, path=path
            ) from None
        except TemplateLimitError as exc:
            raise TemplateError(
                f"{exc} {where}", location=location, path=path, hint=exc.limit.hint()
            ) from None
        except SealedError as exc:
            raise TemplateError(f"{exc} {where}", location=location, path=path) from None
        except SecurityError as exc:
            raise TemplateError(
                f"refused by the template sandbox: {exc} {where}", location=location, path=path
            ) from None
        except UndefinedError as exc:
            message = exc.message or (
                "a variable is undefined; templates read inputs, env, secrets, tasks and run"
            )
            raise TemplateError(f"{message} {where}", location=location, path=path) from None
        except RecursionError:
            raise TemplateError(
                f"the template calls itself too deeply {where}", location=location, path=path
            ) from None
        except MemoryError:
            raise TemplateError(
                f"the template ran out of memory {where}", location=location, path=path
            ) from None
        except (
            TypeError,
            ValueError,
            ArithmeticError,
            LookupError,
            AttributeError,
            TemplateRuntimeError,
        ) as exc:
            raise TemplateError(
                f"template failed: {shorten(str(exc))} {where}", location=location, path=path
            ) from None
        if isinstance(value, Undefined):
            message = value._undefined_hint or value._undefined_message
            raise TemplateError(f"{message} {where}", location=location, path=path)
        return value

    def render_value(
        self,
        value: Any,
        context: Mapping[str, Any],
        *,
        location: SourceLocation | None = None,
        path: str | None = None,
    ) -> Any:
        """Render templates anywhere inside ``value`` (dicts, lists, strings), all of them
        within one budget."""
        with self.budget():
            return self._render_value(value, context, location, path)

    def _render_value(
        self,
        value: Any,
        context: Mapping[str, Any],
        location: SourceLocation | None,
        path: str | None,
    ) -> Any:
        if isinstance(value, str):
            if not is_template(value):
                return value
            return self.render(value, context, location=location, path=path)
        if isinstance(value, Mapping):
            return {
                k: self._render_value(v, context, _child_loc(value, k, location), path)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._render_value(v, context, location, path) for v in value]
        return value

    def references(self, source: str) -> set[tuple[str, str | None]]:
        """``(namespace, name)`` pairs a template reads, e.g. ``("tasks", "list_images")``.

        Names that are no namespace come back as ``(name, None)`` so the caller can
        report them as undefined. Raises jinja2's TemplateSyntaxError.
        """
        return _References.of(self.env.parse(source))

    def private_attributes(self, source: str) -> list[str]:
        """Attributes the sandbox would refuse (``__class__``, ``_private``), found statically."""
        return _private_attributes(self.env.parse(source))

    def analyse(self, source: str) -> tuple[set[tuple[str, str | None]], list[str]]:
        """:meth:`references` and :meth:`private_attributes` from one parse (the loader
        asks both of every template)."""
        tree = self.env.parse(source)
        return _References.of(tree), _private_attributes(tree)


def _private_attributes(tree: nodes.Template) -> list[str]:
    found = [n.attr for n in tree.find_all(nodes.Getattr) if n.attr.startswith("_")]
    found += [
        n.arg.value
        for n in tree.find_all(nodes.Getitem)
        if isinstance(n.arg, nodes.Const)
        and isinstance(n.arg.value, str)
        and n.arg.value.startswith("_")
    ]
    return found


def _child_loc(mapping: Any, key: Any, default: SourceLocation | None) -> SourceLocation | None:
    locs = getattr(mapping, "value_locations", None)
    return locs.get(key, default) if locs else default


class _References:
    @staticmethod
    def of(tree: nodes.Template) -> set[tuple[str, str | None]]:
        assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        found: set[tuple[str, str | None]] = set()
        attributed: set[int] = set()
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            base = getattr(node, "node", None)
            if isinstance(base, nodes.Name) and base.name in NAMESPACES:
                name: str | None = None
                arg = getattr(node, "arg", None)
                if isinstance(node, nodes.Getattr):
                    name = node.attr
                elif isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    name = arg.value
                found.add((base.name, name))
                attributed.add(id(base))
        for n in tree.find_all(nodes.Name):
            if n.ctx != "load" or n.name in assigned or id(n) in attributed:
                continue
            if n.name in NAMESPACES or n.name not in _GLOBALS:
                found.add((n.name, None))
        return found


_GLOBALS = frozenset({"now", "range", "dict", "cycler", "joiner", "namespace", "loop"})
