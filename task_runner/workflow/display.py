"""Show a prepared request to a person: the request, headers (redacted) and a curl line."""

from __future__ import annotations

import json
import shlex
from typing import Any

from task_runner.model import ConnectionConfig, PreparedRequest
from task_runner.redact import MASK, REDACTOR

__all__ = ["auth_header_placeholder", "curl_command", "request_as_dict", "request_lines"]


def auth_header_placeholder(connection: ConnectionConfig) -> dict[str, str]:
    """The header the auth layer will add, with its value masked (no token is fetched)."""
    if connection.auth.type == "none":
        return {}
    return {"Authorization": f"Bearer {MASK}"}


def _headers(request: PreparedRequest, connection: ConnectionConfig) -> dict[str, str]:
    return REDACTOR.redact_headers({**request.headers, **auth_header_placeholder(connection)})


def request_as_dict(request: PreparedRequest, connection: ConnectionConfig) -> dict[str, Any]:
    """The request as JSON-ready data, secrets masked."""
    return {
        "method": request.method,
        "url": REDACTOR.redact(request.full_url()),
        "query": [[k, REDACTOR.redact(v)] for k, v in request.query],
        "headers": _headers(request, connection),
        "body": REDACTOR.redact_obj(request.body),
    }


def request_lines(request: PreparedRequest, connection: ConnectionConfig) -> list[str]:
    lines = [f"{request.method} {request.full_url()}"]
    lines += [f"{name}: {value}" for name, value in _headers(request, connection).items()]
    if request.body is not None:
        lines += ["", json.dumps(request.body, indent=2)]
    return [REDACTOR.redact(line) for line in lines]


def curl_command(request: PreparedRequest, connection: ConnectionConfig) -> str:
    parts = ["curl", "--fail-with-body", "-sS", "-X", request.method, request.full_url()]
    for name, value in _headers(request, connection).items():
        parts += ["-H", f"{name}: {value}"]
    if request.body is not None:
        parts += ["-H", "Content-Type: application/json", "--data", json.dumps(request.body)]
    return REDACTOR.redact(" ".join(shlex.quote(p) for p in parts))
