"""Show a request to a person exactly as it goes on the wire: the request line, every
header (``Host``, ``User-Agent``, ``Accept-Encoding``... included), the body as sent,
and a curl line that sends the same bytes; secrets as ``***``.

The request is a :class:`~task_runner.http.exchange.SentRequest`: what the transport
reported it sent, or, for a dry run, what ``Client.preview`` says it would send.

Example::

    sent = client.preview(prepared.request, prepared.pagination)
    print("\\n".join(request_lines(sent)))
    print(curl_command(sent))
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from task_runner.http.exchange import SentRequest
from task_runner.redact import REDACTOR

__all__ = ["curl_command", "request_as_dict", "request_lines"]

#: Headers curl writes itself, with the same value, from the URL and the data.
_CURL_OWN = frozenset({"host"})


def _is_json(sent: SentRequest) -> bool:
    return "json" in (sent.header("Content-Type") or "").lower()


def request_as_dict(sent: SentRequest) -> dict[str, Any]:
    """The request as JSON-ready data, secrets masked; a JSON body as its value."""
    data = sent.to_dict()
    if data["body"] is not None and _is_json(sent):
        try:
            data["body"] = REDACTOR.redact_obj(json.loads(sent.body_text or ""))
        except ValueError:
            pass  # not JSON after all: the text as sent
    return data


def request_lines(sent: SentRequest) -> list[str]:
    """The request line, the headers in the order sent and the body as sent."""
    data = sent.to_dict()
    lines = [f"{sent.method} {data['url']}"]
    lines += [f"{name}: {value}" for name, value in data["headers"].items()]
    if data["body"] is not None:
        lines += ["", data["body"]]
    return lines


def curl_command(sent: SentRequest) -> str:
    """A curl line that sends the same request line, headers (in order) and body, the
    credentials aside (``***``); ``--compressed`` decodes what ``Accept-Encoding`` asked."""
    data = sent.to_dict()
    parts = ["curl", "--fail-with-body", "-sS"]
    if sent.header("Accept-Encoding"):
        parts.append("--compressed")
    parts += ["-X", sent.method, data["url"]]
    for name, value in data["headers"].items():
        if name.lower() not in _CURL_OWN:
            parts += ["-H", f"{name}: {value}"]
    if data["body"] is not None:
        parts += ["--data-raw", data["body"]]
    return " ".join(shlex.quote(p) for p in parts)
