"""What a workflow file, an ``--input`` value and a template may cost, and how to allow more.

A workflow file is input like any other: it may have been written to hurt (a "billion
laughs" of nested YAML aliases, ``{{ 'a' * 10**9 }}``, a loop of loops). Each cost has a
limit with a sane default; going past one is an input error (exit code 2) that names the
limit and the environment variable that raises it. The limits are set by whoever runs
task-runner, never by the file itself, so a hostile file cannot lift its own limits.

=================================  ==========  ============================================
environment variable               default     what it bounds
=================================  ==========  ============================================
TASK_RUNNER_MAX_FILE_BYTES         5000000     the size of a workflow file
TASK_RUNNER_MAX_YAML_NODES         100000      values in a workflow file once its aliases
                                               are expanded (each use of ``*alias`` counts
                                               everything it repeats)
TASK_RUNNER_MAX_INPUT_BYTES        65536       the size of one ``--input`` VALUE
TASK_RUNNER_MAX_TEMPLATE_STEPS     1000000     loop iterations, calls, filters and
                                               operators while rendering one value
TASK_RUNNER_MAX_TEMPLATE_CHARS     1000000     the largest text, list or mapping a template
                                               may make, and all it renders into one value
                                               (ten times that for everything it makes
                                               along the way)
TASK_RUNNER_MAX_TEMPLATE_SECONDS   1           CPU seconds to render one value
=================================  ==========  ============================================

"One value" is what one ``TemplateEngine.render_value`` call renders (a parameter, a raw
request, a header), or everything rendered inside one ``TemplateEngine.budget()``.

Example::

    MAX_FILE_BYTES.value()          # 5000000, or TASK_RUNNER_MAX_FILE_BYTES when set
    MAX_FILE_BYTES.hint()           # "set TASK_RUNNER_MAX_FILE_BYTES to allow more ..."
    excerpt("x" * 10_000)           # "'xxx...x'... (10,000 characters)"
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass

from task_runner.errors import UsageError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_TEMPLATE_CHARS",
    "MAX_TEMPLATE_SECONDS",
    "MAX_TEMPLATE_STEPS",
    "MAX_YAML_NODES",
    "Limit",
    "TemplateLimits",
    "excerpt",
    "shorten",
]


@dataclass(frozen=True)
class Limit:
    """One limit: its environment variable, its default and the unit it counts."""

    env: str
    default: float
    unit: str

    def value(self, environ: Mapping[str, str] | None = None) -> int:
        """The limit in force: the environment variable when set, else the default."""
        return int(self.read(environ))

    def read(self, environ: Mapping[str, str] | None = None) -> float:
        text = (os.environ if environ is None else environ).get(self.env, "").strip()
        if not text:
            return self.default
        try:
            number = float(text.replace("_", "")) if "." in text else int(text)
        except ValueError:
            number = -1
        if not number > 0:
            raise UsageError(
                f"{self.env}={text!r} is not a positive number of {self.unit}",
                hint=f"unset it for the default ({_number(self.default)}) or set a number above 0",
            )
        return number

    def hint(self) -> str:
        """How to allow more, for the ``hint`` of the error that reports the limit."""
        return f"set {self.env} to allow more; the default is {_number(self.default)} {self.unit}"


def _number(n: float) -> str:
    return f"{n:,}" if n == int(n) else f"{n:g}"


MAX_FILE_BYTES = Limit("TASK_RUNNER_MAX_FILE_BYTES", 5_000_000, "bytes")
MAX_YAML_NODES = Limit("TASK_RUNNER_MAX_YAML_NODES", 100_000, "values")
MAX_INPUT_BYTES = Limit("TASK_RUNNER_MAX_INPUT_BYTES", 65_536, "bytes")
MAX_TEMPLATE_STEPS = Limit("TASK_RUNNER_MAX_TEMPLATE_STEPS", 1_000_000, "steps")
MAX_TEMPLATE_CHARS = Limit("TASK_RUNNER_MAX_TEMPLATE_CHARS", 1_000_000, "characters")
MAX_TEMPLATE_SECONDS = Limit("TASK_RUNNER_MAX_TEMPLATE_SECONDS", 1, "seconds")

#: Everything a template makes along the way, as a multiple of the largest value.
TOTAL_CHARS_FACTOR = 10


@dataclass(frozen=True)
class TemplateLimits:
    """The budget of one rendering (see :mod:`task_runner.workflow.sandbox`)."""

    steps: int = int(MAX_TEMPLATE_STEPS.default)
    chars: int = int(MAX_TEMPLATE_CHARS.default)
    seconds: float = MAX_TEMPLATE_SECONDS.default

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> TemplateLimits:
        return cls(
            steps=MAX_TEMPLATE_STEPS.value(environ),
            chars=MAX_TEMPLATE_CHARS.value(environ),
            seconds=MAX_TEMPLATE_SECONDS.read(environ),
        )


# --- quoting values in messages -------------------------------------------------------------

EXCERPT_CHARS = 200

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = EXCERPT_CHARS
_REPR.maxother = EXCERPT_CHARS
_REPR.maxlong = 60
for _name in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
    setattr(_REPR, _name, 8)


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` for a message, never longer than about ``limit`` characters and
    never walking more of ``value`` than it shows (a value may repeat itself a billion
    times through shared references)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr is refused (env, secrets) or broken
        return f"<{type(value).__name__}>"
    return shorten(text, limit)


def shorten(text: str, limit: int = EXCERPT_CHARS + 100) -> str:
    """``text`` cut in the middle when longer than ``limit``: the start says what the
    value was, the end usually says what is wrong with it."""
    if len(text) <= limit:
        return text
    tail = min(80, limit // 3)
    return f"{text[: limit - tail - 5]} ... {text[-tail:]}"
