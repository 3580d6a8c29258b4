"""One job: evaluate a task's ``expect`` against its response, every check, every failure.

A test run (``test-request``) and a scheduled run evaluate the same checks, here, once
the last page is in: the status, ``headers``, the item ``schema`` (inline, or the stored
response schema), ``items: {min, max}``, and each entry of ``checks:`` -- a Jinja
expression (``that``), or a JSON pointer (``pointer``) or a JMESPath query (``query``)
with comparisons (:mod:`task_runner.runner.predicates`).

``pointer`` and ``query`` read the items when the response is a listing (so ``/0/id``
is the first item's id on one page or on all of them, whatever key the API wraps them
in), else the body. Every check gives a :class:`CheckResult`; :func:`enforce` raises one
:class:`ChecksFailed` (an :class:`ExpectationError`) that names every failed check.

Example::

    expect = Expect(items_min=1, checks=({"pointer": "/0/id", "exists": True},))
    results = evaluate(expect, {"status": 200, "headers": {}, "body": [], "items": [],
                                "item_count": 0, "pages": 1})
    [r.message for r in results if r.passed is False]
    # ['items: expected at least 1, got 0', '/0/id: expected exists, got missing']
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import ExpectationError, TemplateError
from task_runner.model import Expect
from task_runner.pointer import MISSING, resolve
from task_runner.runner.predicates import Predicate, parse_predicates, show

if TYPE_CHECKING:
    from task_runner.workflow.templating import TemplateEngine

__all__ = [
    "CheckResult",
    "ChecksFailed",
    "enforce",
    "evaluate",
    "validate_expect",
]

#: Items read back from a task's JSONL output for ``pointer``/``query`` checks (a
#: schema check streams them all): enough for any pointer a person writes, bounded.
DOCUMENT_ITEMS = 10_000
#: Items a failed schema check quotes.
SCHEMA_SAMPLES = 3


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome; ``passed`` is None when it was not evaluated (a refused status)."""

    path: str  # where it is written: expect.checks[2], expect.headers.Content-Type
    subject: str  # what it looks at: /0/size, headers.Content-Type, items, schema
    expected: str
    actual: str
    passed: bool | None
    note: str = ""  # the check's own `message:`

    @property
    def title(self) -> str:
        return f"{self.subject} {self.expected}"

    @property
    def message(self) -> str:
        text = f"{self.subject}: expected {self.expected}, got {self.actual}"
        return f"{self.note} ({text})" if self.note else text

    def error(self, task: str | None = None) -> ExpectationError:
        return ExpectationError(self.message, path=self.path, task=task)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.title,
            "path": self.path,
            "passed": self.passed,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
        }


class ChecksFailed(ExpectationError):
    """Every failed check of one response; ``failures`` holds an ExpectationError each."""

    def __init__(
        self, failures: Sequence[ExpectationError], *, checked: int, task: str | None = None
    ) -> None:
        self.failures = list(failures)
        listed = "; ".join(f.format() for f in self.failures)
        super().__init__(f"{len(self.failures)} of {checked} check(s) failed: {listed}", task=task)


# --- what is checked -------------------------------------------------------------------


@dataclass(frozen=True)
class _Check:
    path: str
    subject: str
    expected: str
    run: Callable[[_Context], tuple[bool, str]]  # -> (passed, what was found)
    note: str = ""

    def result(self, passed: bool | None, actual: str) -> CheckResult:
        return CheckResult(self.path, self.subject, self.expected, actual, passed, self.note)


class _Context:
    """The response under check, and what the checks read from it (computed once)."""

    def __init__(
        self,
        response: Mapping[str, Any] | None,
        expect: Expect,
        templates: TemplateEngine | None,
        stored_schema: Path | None,
        strict_templates: bool,
    ) -> None:
        self.response = response
        self.expect = expect
        self.templates = templates
        self.stored_schema = stored_schema
        self.strict_templates = strict_templates

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        raw = (self.response or {}).get("headers") or {}
        return {str(k).lower(): str(v) for k, v in raw.items()}

    def iter_items(self) -> Iterator[Any]:
        """Every item: in memory, or read back from the task's JSONL output."""
        response = self.response or {}
        items = response.get("items") or []
        if items or not response.get("jsonl"):
            yield from items
            return
        with open(str(response["jsonl"]), encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    @functools.cached_property
    def document(self) -> Any:
        """What ``pointer`` and ``query`` read: the items of a listing, else the body."""
        response = self.response or {}
        body = response.get("body")
        found = resolve(body, self.expect.items_at) if self.expect.items_at else body
        if int(response.get("pages") or 0) <= 1 and not isinstance(found, list):
            return body
        items = []
        for index, item in enumerate(self.iter_items()):
            if index >= DOCUMENT_ITEMS:
                break
            items.append(item)
        return items


def _plan(expect: Expect) -> list[_Check]:
    """Every check ``expect`` asks for, the status first (the others need an accepted one)."""
    checks = [_status_check(expect)]
    for name, raw in expect.headers.items():
        for predicate in parse_predicates(raw, where=f"expect.headers.{name}"):
            checks.append(_header_check(str(name), predicate))
    if expect.schema is not None:
        checks.append(_schema_check(expect.schema))
    if expect.items_min is not None or expect.items_max is not None:
        checks.append(_items_check(expect.items_min, expect.items_max))
    for index, raw in enumerate(expect.checks):
        checks.extend(_entry_checks(index, raw))
    return checks


def _status_check(expect: Expect) -> _Check:
    wanted = "2xx" if expect.status is None else " or ".join(str(s) for s in sorted(expect.status))

    def run(ctx: _Context) -> tuple[bool, str]:
        status = (ctx.response or {}).get("status")
        if not isinstance(status, int):
            return False, "no response"
        return expect.accepts(status), str(status)

    return _Check("expect.status", "status", wanted, run)


def _header_check(name: str, predicate: Predicate) -> _Check:
    def run(ctx: _Context) -> tuple[bool, str]:
        value = ctx.headers.get(name.lower(), MISSING)
        return predicate.test(value, text=True), show(value)

    return _Check(f"expect.headers.{name}", f"headers.{name}", predicate.expected, run)


def _items_check(low: int | None, high: int | None) -> _Check:
    if low is not None and low == high:
        wanted = f"exactly {low}"
    elif low is not None and high is not None:
        wanted = f"between {low} and {high}"
    else:
        wanted = f"at least {low}" if low is not None else f"at most {high}"

    def run(ctx: _Context) -> tuple[bool, str]:
        count = int((ctx.response or {}).get("item_count") or 0)
        ok = (low is None or count >= low) and (high is None or count <= high)
        return ok, str(count)

    return _Check("expect.items", "items", wanted, run)


def _schema_check(schema: Mapping[str, Any] | str) -> _Check:
    stored = schema == "stored"
    wanted = "every item to match " + ("the stored response schema" if stored else "the schema")

    def run(ctx: _Context) -> tuple[bool, str]:
        if not stored:
            return _validate_items(ctx, schema)  # type: ignore[arg-type]
        path = ctx.stored_schema
        from task_runner.recording.schema import load_response_schema

        found = load_response_schema(path) if path is not None else None
        if found is None:
            where = f" at {path}" if path is not None else ""
            return False, f"no stored response schema{where} (test-request --save-schema saves one)"
        return _validate_items(ctx, found)

    return _Check("expect.schema", "schema", wanted, run)


def _validate_items(ctx: _Context, schema: Mapping[str, Any]) -> tuple[bool, str]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError, best_match

    try:  # a hand-edited stored schema may be no schema: a failed check, not a crash
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        return False, f"the response schema is not a JSON Schema: {exc.message}"
    validator = Draft202012Validator(dict(schema))
    checked, bad = 0, 0
    samples: list[str] = []
    for index, item in enumerate(ctx.iter_items()):
        checked += 1
        error = best_match(validator.iter_errors(item))
        if error is None:
            continue
        bad += 1
        if len(samples) < SCHEMA_SAMPLES:
            where = "".join(f"/{part}" for part in error.absolute_path) or "/"
            samples.append(f"item {index} at {where}: {_cut(error.message)}")
    if not bad:
        return True, f"{checked} item(s), all matching"
    more = "; ..." if bad > len(samples) else ""
    return False, f"{bad} of {checked} item(s) not matching: " + "; ".join(samples) + more


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[: limit - 4]} ..."


def _entry_checks(index: int, raw: Mapping[str, Any]) -> list[_Check]:
    path, note = f"expect.checks[{index}]", str(raw.get("message") or "")
    if "that" in raw:
        return [_that_check(path, str(raw["that"]), note)]
    if "query" in raw:
        import jmespath

        source = str(raw["query"])
        compiled = jmespath.compile(source)

        def read(ctx: _Context) -> Any:
            found = compiled.search(ctx.document)
            return MISSING if found is None else found  # JMESPath says null for "nothing"

    else:
        source = str(raw.get("pointer", ""))

        def read(ctx: _Context) -> Any:
            return resolve(ctx.document, source)

    def compare(predicate: Predicate) -> Callable[[_Context], tuple[bool, str]]:
        def run(ctx: _Context) -> tuple[bool, str]:
            value = read(ctx)
            return predicate.test(value), show(value)

        return run

    return [
        _Check(path, source or "(document)", predicate.expected, compare(predicate), note)
        for predicate in parse_predicates(raw, where=path)
    ]


def _that_check(path: str, expression: str, note: str) -> _Check:
    def run(ctx: _Context) -> tuple[bool, str]:
        if ctx.templates is None:
            return False, "not evaluated (no template engine)"
        try:
            value = ctx.templates.render(
                "{{ " + expression + " }}", {"response": ctx.response}, path=path
            )
        except TemplateError as exc:
            if ctx.strict_templates:
                raise  # a mistake in the workflow (exit 2), not a failed check
            return False, f"error: {exc.message}"
        return bool(value), show(value)

    return _Check(path, expression, "to be true", run, note)


# --- evaluating ------------------------------------------------------------------------


def evaluate(
    expect: Expect,
    response: Mapping[str, Any] | None,
    *,
    templates: TemplateEngine | None = None,
    stored_schema: Path | None = None,
    strict_templates: bool = False,
) -> list[CheckResult]:
    """Every check of ``expect`` on ``response`` (a task output, see ``task_output``).

    ``response`` None: no response came (the status check fails, the rest are not
    evaluated); a refused status likewise. ``stored_schema``: the file ``schema: stored``
    reads. ``strict_templates``: a ``that`` expression that cannot be evaluated raises
    its TemplateError instead of failing its check.
    """
    checks = _plan(expect)
    ctx = _Context(response, expect, templates, stored_schema, strict_templates)
    status, *rest = checks
    passed, actual = status.run(ctx)
    results = [status.result(passed, actual)]
    if not passed:
        reason = "not evaluated: " + ("no response" if response is None else "status refused")
        return results + [check.result(None, reason) for check in rest]
    for check in rest:
        passed, actual = check.run(ctx)
        results.append(check.result(passed, actual))
    return results


def enforce(
    expect: Expect,
    response: Mapping[str, Any] | None,
    *,
    task: str | None = None,
    templates: TemplateEngine | None = None,
    stored_schema: Path | None = None,
) -> list[CheckResult]:
    """:func:`evaluate`, then raise :class:`ChecksFailed` naming every failed check."""
    results = evaluate(
        expect, response, templates=templates, stored_schema=stored_schema, strict_templates=True
    )
    failed = [r for r in results if r.passed is False]
    if failed:
        raise ChecksFailed([r.error(task) for r in failed], checked=len(results), task=task)
    return results


def validate_expect(expect: Expect) -> None:
    """Raise ``ValueError`` for what the workflow schema cannot see: a regex that does not
    compile, a JMESPath query that does not parse, an inline schema that is no schema."""
    _plan(expect)  # parses every predicate and query
    if isinstance(expect.schema, Mapping):
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(dict(expect.schema))
        except SchemaError as exc:
            raise ValueError(f"expect.schema is not a JSON Schema: {exc.message}") from None
    elif expect.schema not in (None, "stored"):
        raise ValueError("expect.schema is a JSON Schema or `stored`")
    low, high = expect.items_min, expect.items_max
    if low is not None and high is not None and low > high:
        raise ValueError(f"expect.items: min {low} is more than max {high}")
    _check_expressions(expect)


def _check_expressions(expect: Expect) -> None:
    """A ``that:`` expression that does not parse is an input error, before anything is
    sent (not a failure after the request went out)."""
    from jinja2 import Environment, TemplateSyntaxError

    env = Environment()
    for index, raw in enumerate(expect.checks):
        if isinstance(raw, Mapping) and "that" in raw:
            try:
                env.parse("{{ " + str(raw["that"]) + " }}")
            except TemplateSyntaxError as exc:
                raise ValueError(
                    f"expect.checks[{index}].that: {exc.message} in {str(raw['that'])!r}"
                ) from None
