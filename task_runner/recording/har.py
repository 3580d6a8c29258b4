"""One job: a recording as HAR 1.2, the format browser developer tools and HTTP clients open.

Each attempt on the wire becomes one entry (retries and the failing response included),
in the order it was sent. The recording is already redacted; the HAR is redacted once
more on the way out, so that a secret registered since cannot slip through.

Example::

    har = to_har(RecordingStore().load("procore-daily-photos/list_images"))
    write_har(har, Path("list_images.har"))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import task_runner
from task_runner.errors import OutputError
from task_runner.recording.store import atomic_write_text
from task_runner.redact import REDACTOR

__all__ = ["HAR_VERSION", "to_har", "write_har"]

HAR_VERSION = "1.2"
HTTP_VERSION = "HTTP/1.1"


def _pairs(mapping: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"name": str(k), "value": str(v)} for k, v in mapping.items()]


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    return json.dumps(body, indent=2)


def _request(exchange: Mapping[str, Any]) -> dict[str, Any]:
    url = str(exchange.get("url", ""))
    query = exchange.get("query") or parse_qsl(urlsplit(url).query, keep_blank_values=True)
    request: dict[str, Any] = {
        "method": exchange.get("method", "GET"),
        "url": url,
        "httpVersion": HTTP_VERSION,
        "cookies": [],
        "headers": _pairs(exchange.get("request_headers") or {}),
        "queryString": [{"name": str(k), "value": str(v)} for k, v in query],
        "headersSize": -1,
        "bodySize": 0,
    }
    body = exchange.get("request_body")
    if body is not None:
        text = _text(body)
        request["postData"] = {"mimeType": "application/json", "text": text, "params": []}
        request["bodySize"] = len(text.encode())
    return request


def _response(exchange: Mapping[str, Any], body: Any) -> dict[str, Any]:
    headers = exchange.get("response_headers") or {}
    text = _text(body)
    status = exchange.get("status")
    location = next((v for k, v in headers.items() if k.lower() == "location"), "")
    response: dict[str, Any] = {
        "status": int(status) if status is not None else 0,
        "statusText": str(exchange.get("reason") or ""),
        "httpVersion": HTTP_VERSION,
        "cookies": [],
        "headers": _pairs(headers),
        "content": {
            "size": int(exchange.get("size") or len(text.encode())),
            "mimeType": str(exchange.get("mime_type") or "x-unknown"),
            "text": text,
        },
        "redirectURL": str(location),
        "headersSize": -1,
        "bodySize": int(exchange.get("size") or len(text.encode())) if status is not None else -1,
    }
    if exchange.get("error"):
        # No response arrived (reset, timeout): HAR tools show status 0 with a comment.
        response["comment"] = str(exchange["error"])
    return response


def _entry(exchange: Mapping[str, Any], pages: Mapping[int, Any], task: str) -> dict[str, Any]:
    page = exchange.get("page")
    body = pages.get(int(page)) if page is not None else exchange.get("body")
    millis = round(float(exchange.get("elapsed") or 0.0) * 1000.0, 3)
    entry = {
        "startedDateTime": exchange.get("started_at"),
        "time": millis,
        "request": _request(exchange),
        "response": _response(exchange, body),
        "cache": {},
        "timings": {
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "send": 0,
            "wait": millis,
            "receive": 0,
        },
        "comment": f"task {task}, attempt {exchange.get('number', '?')}"
        + (f", page {page}" if page is not None else ""),
    }
    return entry


def to_har(recording: Mapping[str, Any]) -> dict[str, Any]:
    """The recording's exchanges as a HAR 1.2 ``{"log": ...}`` object (redacted)."""
    pages = {int(r["page"]): r.get("body") for r in recording.get("responses", []) if "page" in r}
    task = str(recording.get("task", ""))
    entries = [
        _entry(exchange, pages, task)
        for exchange in recording.get("attempts", [])
        if exchange.get("started_at")
    ]
    har = {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "task-runner", "version": task_runner.__version__},
            "pages": [],
            "entries": entries,
            "comment": f"workflow {recording.get('workflow')}, task {task}, "
            f"operation {recording.get('operation')}, recorded {recording.get('recorded_at')}",
        }
    }
    return REDACTOR.redact_obj(har)  # type: ignore[no-any-return]


def har_text(har: Mapping[str, Any]) -> str:
    return REDACTOR.dumps(har, indent=2) + "\n"


def write_har(har: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``har`` atomically (temp file + rename) and return the path.

    A path that cannot be written is an :class:`OutputError` (the user's to fix), not a crash.
    """
    target = Path(path)
    try:
        atomic_write_text(target, har_text(har))
    except OSError as exc:
        raise OutputError(f"cannot write the HAR file {target}: {exc.strerror or exc}") from exc
    return target
