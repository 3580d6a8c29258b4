"""How the studio answers: the security headers on every response, JSON through the
process-wide redactor, errors as :mod:`task_runner.contract` failure JSON (409 with
the file's current text for a :class:`~task_runner.studio.workspace.Conflict`), and
the JSON object a write sends."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from task_runner.errors import TaskRunnerError, UsageError
from task_runner.redact import REDACTOR
from task_runner.studio.workspace import Conflict

__all__ = [
    "SECURITY_HEADERS",
    "Handler",
    "RedactedJSON",
    "error_response",
    "handles_errors",
    "json_response",
    "plain",
    "read_body",
    "secure",
]

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the first URL
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

Handler = Callable[[Request], Awaitable[Response]]


def secure(response: Response) -> Response:
    """``response`` with the :data:`SECURITY_HEADERS` it does not set itself."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def plain(status: int, text: str) -> Response:
    """A ``text/plain`` answer (a line) with the security headers."""
    return secure(Response(text + "\n", status_code=status, media_type="text/plain"))


class RedactedJSON(Response):
    """JSON through the process-wide redactor: a registered secret never leaves."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return REDACTOR.dumps(content).encode("utf-8")


def json_response(content: Any, status: int = 200) -> Response:
    """``content`` as redacted JSON with the security headers."""
    return secure(RedactedJSON(content, status_code=status))


def error_response(exc: TaskRunnerError, status: int | None = None) -> Response:
    """``exc`` as the contract's failure JSON: 400 for the user's input (exit code 2),
    else 500, unless ``status`` says otherwise."""
    from task_runner.contract import failure_json

    return json_response(failure_json(exc), status or (400 if exc.exit_code == 2 else 500))


def handles_errors(handler: Handler) -> Handler:
    """``handler`` answering its errors as JSON: a Conflict is 409 (with the file's
    current text and digest), a TaskRunnerError its failure JSON, a malformed request
    (ValueError, KeyError, TypeError) a 400 ``bad request``."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Conflict as exc:
            payload = {"status": "conflict", "message": exc.format()}
            return json_response({**payload, "current": exc.current, "sha256": exc.sha256}, 409)
        except TaskRunnerError as exc:
            return error_response(exc)
        except (ValueError, KeyError, TypeError) as exc:
            return error_response(UsageError(f"bad request: {exc}"))

    return wrapped


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (``{}`` for no body); UsageError when it is not one."""
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise UsageError(f"the request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError("the request body must be a JSON object")
    return data
