"""The documents the editor opens after a code-lens command: Markdown made from the JSON
contract (``test-request --output json``, ``--dry-run --output json``, a recording), so the
editor shows what the command line shows.

Every function takes JSON-ready data and returns Markdown text; the caller redacts it on
its way out (the data is redacted already: recordings are stored redacted).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["dry_run_report", "errors_report", "outcome_report", "recording_report"]

#: Lines of a body shown in a document (a test needs the first items, not every page).
BODY_LINES = 200


def _fence(lines: Iterable[str], lang: str = "") -> list[str]:
    return [f"```{lang}", *lines, "```"]


def _body(body: Any) -> list[str]:
    from task_runner.cli.test_request import body_lines

    lines, note = body_lines(body, full=False, limit=BODY_LINES)
    lang = "" if isinstance(body, str) else "json"
    return _fence(lines, lang) + ([note] if note else [])


def _response_lines(responses: Sequence[Mapping[str, Any]]) -> list[str]:
    from task_runner.contract import shown_headers

    if not responses:
        return ["(no response)"]
    out = ["| page | status | elapsed | items |", "|---|---|---|---|"]
    for r in responses:
        status = f"{r.get('status')} {r.get('reason') or ''}".strip()
        items = r.get("item_count") if isinstance(r.get("body"), list) else ""
        out.append(
            f"| {r.get('page')} | {status} | {float(r.get('elapsed') or 0):.3f} s | {items} |"
        )
    first = responses[-1] if not responses[-1].get("accepted", True) else responses[0]
    headers = shown_headers(first.get("headers") or {})
    if headers:
        out += ["", *_fence(f"{k}: {v}" for k, v in headers.items())]
    out += ["", f"Body of page {first.get('page')}:", "", *_body(first.get("body"))]
    return out


def outcome_report(data: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    """``test-request --output json`` as a document: request, responses, recording."""
    if data.get("status") == "error":
        return errors_report(str(data.get("task") or ""), data.get("errors") or [], notes)
    task = data.get("task")
    head = f"# {task}: {data.get('status')}"
    if data.get("http_status") is not None:
        head += f", HTTP {data.get('http_status')}"
    lines = [head, ""]
    request = data.get("request") or {}
    if request:
        lines += [*_fence([f"{request.get('method')} {request.get('url')}"], "http"), ""]
    lines += _response_lines(data.get("responses") or [])
    if data.get("error"):
        lines += ["", f"**error:** {data['error']}"]
    if data.get("recording"):
        lines += ["", f"recorded: `{data['recording']}`"]
    if data.get("output"):
        lines += [f"output: `{data['output']}`"]
    return "\n".join([*lines, *_notes(notes)]) + "\n"


def dry_run_report(data: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    """``test-request --dry-run --output json`` as a document: the request and curl line."""
    if data.get("status") == "error":
        return errors_report(str(data.get("task") or ""), data.get("errors") or [], notes)
    request = data.get("request") or {}
    lines = [f"# {data.get('task')}: dry run (nothing was sent)", ""]
    wire = [f"{request.get('method')} {request.get('url')}"]
    wire += [f"{k}: {v}" for k, v in (request.get("headers") or {}).items()]
    body = request.get("body")
    if body is not None:
        wire += ["", body if isinstance(body, str) else json.dumps(body, indent=2)]
    lines += _fence(wire, "http")
    lines += ["", "The same request with curl (secrets shown as ***):", ""]
    lines += _fence([str(data.get("curl"))], "sh")
    return "\n".join([*lines, *_notes(notes)]) + "\n"


def recording_report(data: Mapping[str, Any], title: str) -> str:
    """A recording (``recording_json``) as a document."""
    request = data.get("request") or {}
    lines = [f"# {title}", "", f"recording: `{data.get('path')}`"]
    if data.get("recorded_at"):
        lines.append(f"recorded at: {data.get('recorded_at')}")
    lines.append("")
    if request:
        lines += [*_fence([f"{request.get('method')} {request.get('url')}"], "http"), ""]
    lines += _response_lines(data.get("responses") or [])
    return "\n".join(lines) + "\n"


def errors_report(task: str, errors: Sequence[Mapping[str, Any]], notes: Sequence[str] = ()) -> str:
    """Input errors (exit 2, nothing sent) as a document: one line per error."""
    lines = [f"# {task}: not sent", "", "The workflow or the inputs have mistakes:", ""]
    note = (
        "Inputs come from the editor's settings: `taskRunner.inputs` (VS Code) or "
        "`init_options.inputs` (Neovim), as `--input` gives them."
    )
    for e in errors:
        where = f"{e.get('file')}:{e.get('line')}:{e.get('column')}" if e.get("line") else ""
        path = e.get("path") or ""
        lines.append("- " + ": ".join(x for x in (where, path, str(e.get("message"))) if x))
    if any("input" in str(e.get("message")) for e in errors):
        lines += ["", note]
    return "\n".join([*lines, *_notes(notes)]) + "\n"


def _notes(notes: Sequence[str]) -> list[str]:
    shown = [n for n in notes if n.strip()]
    return ["", "Notes:", "", *_fence(shown)] if shown else []
