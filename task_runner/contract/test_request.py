"""The outcome of ``test-request`` as JSON (the editor contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from task_runner.recording.session import TaskOutcome

__all__ = ["SHOWN_HEADERS", "SHOWN_PREFIXES", "dry_run_json", "outcome_json", "shown_headers"]

#: Headers worth a glance: pagination, rate limits, what the body is.
SHOWN_HEADERS = ("total", "per-page", "link", "content-type", "retry-after")
SHOWN_PREFIXES = ("x-rate-limit-", "x-ratelimit-")


def shown_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """The headers of ``headers`` that ``test-request`` shows, in their order."""
    return {
        name: value
        for name, value in headers.items()
        if name.lower() in SHOWN_HEADERS or name.lower().startswith(SHOWN_PREFIXES)
    }


def outcome_json(outcome: TaskOutcome, har_path: Path | None) -> dict[str, Any]:
    """One object with the request, responses and recording path: ``{status, exit_code,
    workflow, task, operation, http_status, request, responses, attempts, upstream,
    recording, output, har, error}`` (paths as text, None when absent)."""
    recording = outcome.recording or {}
    result = outcome.result
    return {
        "status": result.status,
        "exit_code": outcome.exit_code,
        "workflow": recording.get("workflow"),
        "task": outcome.task,
        "operation": recording.get("operation"),
        "http_status": result.http_status,
        "request": recording.get("request"),
        "responses": recording.get("responses", []),
        "attempts": recording.get("attempts", []),
        "upstream": outcome.upstream,
        "recording": str(outcome.recording_path) if outcome.recording_path else None,
        "output": outcome.output,
        "har": str(har_path) if har_path else None,
        "error": result.error,
    }


def dry_run_json(task: str, sent: Any) -> dict[str, Any]:
    """``test-request --dry-run --output json``: ``{task, dry_run, request, curl}`` for
    the prepared request ``sent`` (secrets as ``***`` in the curl line)."""
    from task_runner.workflow.display import curl_command, request_as_dict

    return {
        "task": task,
        "dry_run": True,
        "request": request_as_dict(sent),
        "curl": curl_command(sent),
    }
