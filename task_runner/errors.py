"""The one error tree of task-runner.

Every failure the runner reports is a :class:`TaskRunnerError`. The tree splits in two
by what the user has to do about it, and each class knows its exit code (like
``click.ClickException.exit_code``)::

    TaskRunnerError                      exit 1 unless a subclass says otherwise
    ├── InputError                       exit 2: the input is wrong, nothing was sent
    │   ├── UsageError                   bad command-line arguments (--input syntax, ...)
    │   ├── LoadError                    unreadable file, YAML syntax, duplicate keys
    │   ├── DefinitionError              an API reference / OpenAPI document we cannot read
    │   ├── SchemaValidationError        structure or parameter does not match its schema
    │   ├── TemplateError                template syntax, undefined variable, sandbox refusal
    │   └── UnresolvedReferenceError     unknown operation, connection, task, input
    ├── InputErrors                      exit 2: several InputErrors reported at once
    ├── RunError                         exit 1: the run failed at run time
    │   ├── TransportError               connection refused/reset, timeouts, TLS
    │   ├── AuthError                    token endpoint refused or unreachable
    │   ├── HTTPStatusError              unexpected status after retries (keeps the response)
    │   ├── RetryWaitTooLongError        the server asks for a wait beyond the task's limit
    │   ├── PaginationError              a page failed after its retries (names the page)
    │   ├── ExpectationError             a response check failed
    │   └── OutputError                  writing the output sink failed
    └── Interrupted                      exit 130: SIGINT/SIGTERM

Errors carry structure, not only a string: the source ``location`` (file, line, column),
the parameter's JSON ``path``, the ``task`` name and the cause (``raise ... from exc``).
Context is attached once, at the boundary, with :func:`task_context`.

Example::

    try:
        workflow = load_workflow("photos.yaml")
    except TaskRunnerError as exc:
        print(exc.format(), file=sys.stderr)
        raise SystemExit(exc.exit_code)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthError",
    "DefinitionError",
    "ExpectationError",
    "HTTPStatusError",
    "InputError",
    "InputErrors",
    "Interrupted",
    "LoadError",
    "OutputError",
    "PaginationError",
    "RetryWaitTooLongError",
    "RunError",
    "SchemaValidationError",
    "SourceLocation",
    "TaskRunnerError",
    "TemplateError",
    "TransportError",
    "UnresolvedReferenceError",
    "UsageError",
    "did_you_mean",
    "format_path",
    "task_context",
]

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_INPUT_INVALID = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where in which file something stands; ``line`` and ``column`` are 1-based."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}"
        return self.file


def format_path(path: str | Sequence[str | int] | None) -> str:
    """``("list_images", "params", "project_id")`` -> ``list_images.params.project_id``.

    Integers become ``[3]``; keys that hold dots, brackets or spaces stay readable as
    they are, because users wrote them that way (``params.filters[trade_ids][]``).
    """
    if path is None:
        return ""
    if isinstance(path, str):
        return path
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def did_you_mean(name: str, known: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> str | None:
    """``"did you mean 'list_images'?"`` naming the ``n`` closest of ``known``, or None.

    The one wording of every "unknown name" hint; callers add their own fallback::

        hint = did_you_mean(name, tasks) or "tasks: " + ", ".join(tasks)
    """
    import difflib  # only needed once something is already wrong

    close = difflib.get_close_matches(name, list(known), n=n, cutoff=cutoff)
    return "did you mean " + " or ".join(repr(c) for c in close) + "?" if close else None


#: A message quoting a rendered value is cut here: values may be up to the template limit
#: (a megabyte), and a message is for a person to read, and is stored in the run history.
MAX_MESSAGE_CHARS = 4000


def _bounded(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    cut = len(message) - MAX_MESSAGE_CHARS
    return f"{message[: MAX_MESSAGE_CHARS - 200]} ... ({cut:,} characters cut) ... {message[-200:]}"


class TaskRunnerError(Exception):
    """Root of all task-runner errors. ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_RUN_FAILED

    def __init__(
        self,
        message: str,
        *,
        location: SourceLocation | None = None,
        path: str | Sequence[str | int] | None = None,
        task: str | None = None,
        hint: str | None = None,
    ) -> None:
        message = _bounded(message)
        super().__init__(message)
        self.message = message
        self.location = location
        self.path = format_path(path) or None
        self.task = task
        self.hint = hint

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:  # never more than the (already redacted) message
        return f"{type(self).__name__}({self.format()!r})"

    def format(self) -> str:
        """``file:line:col: path: message (hint)``, leaving out what is unknown."""
        parts: list[str] = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.path:
            parts.append(self.path)
        elif self.task:
            parts.append(self.task)
        text = self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        parts.append(text)
        return ": ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The editor contract: ``{file, line, column, path, message}`` (+ ``task``, ``kind``)."""
        loc = self.location
        message = self.message + (f" ({self.hint})" if self.hint else "")
        return {
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "path": self.path,
            "task": self.task,
            "kind": type(self).__name__,
            "message": message,
        }

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (
            loc.file if loc else "",
            loc.line if loc else 0,
            loc.column if loc else 0,
            self.path or "",
        )


# --- input mistakes: exit code 2, nothing was sent ------------------------------------


class InputError(TaskRunnerError):
    """The user's input is wrong; nothing was sent."""

    exit_code = EXIT_INPUT_INVALID


class UsageError(InputError):
    """Bad command-line usage (unknown option value, malformed ``--input``)."""


class LoadError(InputError):
    """A file could not be read or parsed (missing, binary, YAML syntax, duplicate key)."""


class DefinitionError(InputError):
    """An API reference page or OpenAPI document could not be turned into definitions."""


class SchemaValidationError(InputError):
    """A value does not match its JSON Schema (workflow structure or task parameters)."""


class TemplateError(InputError):
    """A Jinja template does not compile, refers to something undefined, or was refused."""


class UnresolvedReferenceError(InputError):
    """A name refers to nothing: unknown operation, connection, task or input."""


class InputErrors(TaskRunnerError):
    """Several input errors, reported together, sorted by location."""

    exit_code = EXIT_INPUT_INVALID

    def __init__(self, errors: Iterable[InputError]) -> None:
        self.errors: list[InputError] = sorted(errors, key=lambda e: e.sort_key())
        summary = f"{len(self.errors)} error(s)"
        super().__init__(summary)

    def format(self) -> str:
        return "\n".join(e.format() for e in self.errors)

    def to_dict(self) -> dict[str, Any]:
        return {"errors": [e.to_dict() for e in self.errors]}

    def __iter__(self) -> Iterator[InputError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)


def raise_if_any(errors: Sequence[InputError]) -> None:
    """Raise the single error, or an :class:`InputErrors` holding all of them."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)


# --- run-time failures: exit code 1 ---------------------------------------------------


class RunError(TaskRunnerError):
    """The run failed at run time (network, HTTP status, expectations, output)."""


class TransportError(RunError):
    """The request did not get a response: connection refused or reset, timeout, TLS."""


class AuthError(RunError):
    """The token endpoint refused the credentials or could not be reached."""


class HTTPStatusError(RunError):
    """The server answered with a status the task does not accept, after retries.

    ``status``, ``reason`` and ``body_excerpt`` (redacted) are kept, not flattened.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        reason: str = "",
        body_excerpt: str = "",
        url: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.status = status
        self.reason = reason
        self.body_excerpt = body_excerpt
        self.url = url


class RetryWaitTooLongError(RunError):
    """The server asked to wait (Retry-After / rate-limit reset) longer than allowed."""


class PaginationError(RunError):
    """A page failed after its retries; ``page`` names it."""

    def __init__(self, message: str, *, page: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.page = page


class ExpectationError(RunError):
    """A response arrived but failed one of the task's ``expect`` checks."""


class OutputError(RunError):
    """Writing a task's output (JSONL sink, recording) failed."""


class Interrupted(TaskRunnerError):
    """The run was interrupted by SIGINT or SIGTERM."""

    exit_code = EXIT_INTERRUPTED


@contextlib.contextmanager
def task_context(task: str, location: SourceLocation | None = None) -> Iterator[None]:
    """Attach the task name (and its source) to any TaskRunnerError raised inside.

    Use it once, at the boundary where a task starts, instead of at every raise::

        with task_context("list_images", task.location):
            send(request)
    """
    try:
        yield
    except InputErrors as exc:
        for err in exc.errors:
            err.task = err.task or task
            err.location = err.location or location
        raise
    except TaskRunnerError as exc:
        exc.task = exc.task or task
        if exc.location is None:
            exc.location = location
        raise
