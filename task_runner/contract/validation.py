"""Errors with their place: file, line, column (1-based) and parameter path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from task_runner.errors import InputErrors, TaskRunnerError

__all__ = ["error_json", "errors_json", "failure_json"]


def error_json(error: TaskRunnerError) -> dict[str, Any]:
    """``{file, line, column, path, task, kind, message}``; unknown parts are None."""
    return error.to_dict()


def errors_json(errors: Iterable[TaskRunnerError]) -> list[dict[str, Any]]:
    """``validate --output json``: one :func:`error_json` per error, in the given order."""
    return [error_json(e) for e in errors]


def failure_json(exc: TaskRunnerError) -> dict[str, Any]:
    """A failed command as ``--output json`` prints it:
    ``{status: "error", exit_code, errors: [error_json, ...]}``."""
    payload = exc.to_dict() if isinstance(exc, InputErrors) else {"errors": [exc.to_dict()]}
    return {"status": "error", "exit_code": exc.exit_code, **payload}
