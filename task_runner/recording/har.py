"""One job: a recording as HAR 1.2, the format browser developer tools and HTTP clients open.

Each request on the wire becomes one entry, in the order it was sent: the token request
(its client secret and access token as ``***``), every try of every page (retries and
the failing response included). An entry is made from its own exchange alone: the
request as sent (every header, the full URL with its query) and the response text as
received, never re-serialised. A request that got no response (a reset connection, a
timeout) has status 0 and says what happened in ``response._error``, as browsers'
HAR exports do. The recording is already redacted; the HAR is redacted once more on
the way out, so that a secret registered since cannot slip through.

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
    """A body as text: as it was when the recording kept text (format 2), else the
    JSON an older recording parsed it into."""
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    return json.dumps(body, ensure_ascii=False)


def _header(headers: Mapping[str, Any], name: str) -> str:
    return str(next((v for k, v in headers.items() if k.lower() == name.lower()), ""))


def _request(exchange: Mapping[str, Any]) -> dict[str, Any]:
    url = str(exchange.get("url", ""))
    headers = exchange.get("request_headers") or {}
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True) or exchange.get("query") or []
    request: dict[str, Any] = {
        "method": exchange.get("method", "GET"),
        "url": url,
        "httpVersion": HTTP_VERSION,
        "cookies": [],
        "headers": _pairs(headers),
        "queryString": [{"name": str(k), "value": str(v)} for k, v in query],
        "headersSize": -1,
        "bodySize": 0,
    }
    body = exchange.get("request_body")
    if body is not None:
        text = _text(body)
        mime = _header(headers, "Content-Type") or "application/json"
        request["postData"] = {"mimeType": mime, "text": text, "params": []}
        request["bodySize"] = len(text.encode())
    return request


def _response(exchange: Mapping[str, Any], body: Any) -> dict[str, Any]:
    headers = exchange.get("response_headers") or {}
    status = exchange.get("status")
    text = _text(body)
    size = exchange.get("size")
    size = int(size) if size is not None else len(text.encode())
    content: dict[str, Any] = {
        "size": size if status is not None else 0,
        "mimeType": str(exchange.get("mime_type") or "x-unknown"),
        "text": text,
    }
    if exchange.get("body_encoding"):
        content["encoding"] = str(exchange["body_encoding"])
    response: dict[str, Any] = {
        "status": int(status) if status is not None else 0,
        "statusText": str(exchange.get("reason") or ""),
        "httpVersion": HTTP_VERSION,
        "cookies": [],
        "headers": _pairs(headers),
        "content": content,
        "redirectURL": _header(headers, "Location"),
        "headersSize": -1,
        "bodySize": size if status is not None else -1,
    }
    if exchange.get("error"):
        # What went wrong: no response (status 0), or a response the run refused.
        response["_error"] = str(exchange["error"])
    return response


def _body(exchange: Mapping[str, Any], pages: Mapping[int, Any]) -> Any:
    if "body_text" in exchange:
        return exchange["body_text"]
    # An older recording kept a page's body once, parsed, in its responses.
    page = exchange.get("page")
    if page is not None and "body" not in exchange:
        return pages.get(int(page))
    return exchange.get("body")


def _comment(exchange: Mapping[str, Any], task: str) -> str:
    if exchange.get("purpose") == "token":
        return f"task {task}: token request"
    page = exchange.get("page")
    comment = f"task {task}, request {exchange.get('number', '?')}"
    if page is not None:
        comment += f", page {page}, try {exchange.get('attempt', '?')}"
    if exchange.get("error"):
        comment += f": {exchange['error']}"
    return comment


def _entry(exchange: Mapping[str, Any], pages: Mapping[int, Any], task: str) -> dict[str, Any]:
    millis = round(float(exchange.get("elapsed") or 0.0) * 1000.0, 3)
    return {
        "startedDateTime": exchange.get("started_at"),
        "time": millis,
        "request": _request(exchange),
        "response": _response(exchange, _body(exchange, pages)),
        "cache": {},
        "timings": {
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "send": 0,
            "wait": millis,
            "receive": 0,
        },
        "comment": _comment(exchange, task),
    }


def to_har(recording: Mapping[str, Any]) -> dict[str, Any]:
    """The recording's exchanges as a HAR 1.2 ``{"log": ...}`` object (redacted)."""
    pages = {int(r["page"]): r.get("body") for r in recording.get("responses", []) if "page" in r}
    task = str(recording.get("task", ""))
    wire = [*recording.get("token_requests", []), *recording.get("attempts", [])]
    wire = sorted((e for e in wire if e.get("started_at")), key=lambda e: str(e["started_at"]))
    har = {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "task-runner", "version": task_runner.__version__},
            "pages": [],
            "entries": [_entry(exchange, pages, task) for exchange in wire],
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
