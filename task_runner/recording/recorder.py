"""One job: watch a run and turn what each task sent and received into a recording.

Two seams of the executor feed it. As a :class:`TaskObserver` it sees each task's
prepared request, its pages and its result. As the ``client_factory`` it makes each
connection's :class:`~task_runner.http.client.Client` with itself as the listener of
the client's attempt events: every attempt arrives with its task, its page and its wire
exchanges (the request exactly as sent, the response as received, or the error), set
where the attempt happened. Nothing is matched up afterwards, so pages fetched in
parallel, retried out of order or failed keep their own requests and bodies. The
response that failed a task (a 404's body is what the user needs to see) is there too,
although it never became a page; token requests are kept apart, redacted.

Example::

    recorder = Recorder()
    options = ExecutionOptions(tasks=["list_images"], observers=[recorder],
                               client_factory=recorder.client_factory)
    result = execute(workflow, inputs, run=run, options=options)
    recording = recorder.recording("list_images", workflow=workflow, run=run, inputs=values)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from task_runner.http.exchange import Exchange, SentRequest, iso_time
from task_runner.http.json_depth import MAX_JSON_DEPTH, nesting_exceeds
from task_runner.model import ConnectionConfig
from task_runner.recording.store import FORMAT, FORMAT_VERSION
from task_runner.redact import REDACTOR
from task_runner.runner.executor import TaskObserver
from task_runner.runner.result import task_output

if TYPE_CHECKING:
    from task_runner.http.client import Client
    from task_runner.http.clock import Clock
    from task_runner.http.retry import Attempt
    from task_runner.runner.result import TaskResult
    from task_runner.workflow.model import Workflow
    from task_runner.workflow.prepare import PreparedTask, RunContext

__all__ = ["Recorder", "preset_output"]


@dataclass
class _TaskLog:
    prepared: PreparedTask | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    result: TaskResult | None = None


class Recorder(TaskObserver):
    """Collects, per task, the prepared request, pages, attempts on the wire and result.

    Tasks may run concurrently: every attempt names its task.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        """``clock``: the clients' clock (e.g. a :class:`~task_runner.http.clock.CancellableClock`
        so that a cancel ends their waits); None: the real one."""
        self.clock = clock
        self._tasks: dict[str, _TaskLog] = {}
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def _log(self, task: str) -> _TaskLog:
        with self._lock:
            return self._tasks.setdefault(task, _TaskLog())

    # --- executor seams ---------------------------------------------------------------

    def client_factory(self, connection: ConnectionConfig) -> Client:
        from task_runner.http.client import Client

        client = Client(connection, on_attempt=self.attempt, clock=self.clock)
        with self._lock:
            self._clients[connection.name] = client
        return client

    def attempt(self, attempt: Attempt) -> None:
        """The clients' attempt events (called from the thread that made the attempt)."""
        if attempt.task is not None:
            self._log(attempt.task).attempts.append(attempt)

    def task_started(self, task: str, prepared: PreparedTask) -> None:
        self._log(task).prepared = prepared

    def page(self, task: str, prepared: PreparedTask, page: Any) -> None:
        self._log(task).pages.append(
            {
                "page": page.number,
                "status": page.status,
                "reason": page.reason,
                "url": page.url,
                "headers": dict(page.headers),
                "body": page.body,
                "item_count": len(page.items),
                "elapsed": round(page.elapsed, 4),
                "accepted": True,
            }
        )

    def task_finished(self, task: str, result: TaskResult) -> None:
        self._log(task).result = result

    # --- results ----------------------------------------------------------------------

    def _preview(self, prepared: PreparedTask) -> SentRequest | None:
        """The request the task would have sent, when nothing went on the wire."""
        from task_runner.http.client import Client

        client = self._clients.get(prepared.connection.name)
        try:
            if client is not None:
                return client.preview(prepared.request, prepared.pagination)
            with Client(prepared.connection) as fresh:
                return fresh.preview(prepared.request, prepared.pagination)
        except Exception:  # the task's error says why nothing could be sent
            return None

    def ran(self) -> list[str]:
        """Tasks that started (in the order they did)."""
        return [name for name, log in self._tasks.items() if log.prepared is not None]

    def recording(
        self,
        task: str,
        *,
        workflow: Workflow,
        run: RunContext,
        inputs: Mapping[str, Any],
        upstream: Mapping[str, Any] | None = None,
        emulated: bool = False,
    ) -> dict[str, Any] | None:
        """The recording of ``task`` (redacted), or None when it never started.

        ``emulated``: the connection pointed at the built-in emulator (``--emulator``),
        so the recording is no stand-in for a real API's answer.
        """
        from task_runner.workflow.display import request_as_dict

        log = self._tasks.get(task)
        if log is None or log.prepared is None:
            return None
        prepared, result = log.prepared, log.result
        with self._lock:
            attempts = list(log.attempts)
        entries, tokens = _entries(attempts)
        responses = list(log.pages)
        refused = _refused_response(entries, {p["page"] for p in responses})
        if result is not None and result.status == "failed" and refused is not None:
            responses.append(refused)
        sent = _first_request(attempts) or self._preview(prepared)
        recording = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "recorded_at": iso_time(time.time()),
            "workflow": workflow.name,
            "workflow_file": str(workflow.path),
            "task": task,
            "operation": prepared.operation_id,
            "connection": prepared.connection.name,
            "base_url": prepared.connection.base_url,
            "emulated": emulated,
            "run_id": run.id,
            "inputs": dict(inputs),
            "params": dict(prepared.params),
            "request": request_as_dict(sent) if sent is not None else None,
            "pagination": {
                "mode": prepared.pagination.mode,
                "key": prepared.pagination.key,
                "on_mismatch": prepared.pagination.on_mismatch,
                "items": prepared.expect.items_at,
            },
            "responses": responses,
            "attempts": entries,
            "token_requests": tokens,
            "result": _result(result),
            "upstream": dict(upstream or {}),
        }
        return REDACTOR.redact_obj(recording)  # type: ignore[no-any-return]


def _wire(attempts: list[Attempt]) -> list[tuple[Attempt, int, Exchange]]:
    """Every exchange with its attempt and place in it, in the order they started."""
    found = [(a, i, e) for a in attempts for i, e in enumerate(a.exchanges)]
    return sorted(found, key=lambda item: item[2].started_at)


def _first_request(attempts: list[Attempt]) -> SentRequest | None:
    """The task's first request as sent: page 1's (or the lowest page's) first try."""
    requests = [
        (a.page or 0, e.started_at, e.request)
        for a, _, e in _wire(attempts)
        if e.purpose == "request"
    ]
    return min(requests, key=lambda r: r[:2])[2] if requests else None


def _entries(attempts: list[Attempt]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(the task's requests, token requests)`` as recording entries, in wire order.

    Each request entry says which page it fetched and which try it was (``try``); the
    verdict of a try that was no transport error (an invalid body) goes on its last
    exchange. Bodies are the text received: a page's parsed body is in ``responses``.
    """
    entries: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]] = []
    for attempt, index, exchange in _wire(attempts):
        entry = exchange.to_dict()
        if exchange.purpose != "request":
            tokens.append(entry)
            continue
        last = index == len(attempt.exchanges) - 1
        if last and attempt.error and not entry["error"]:
            entry["error"] = attempt.error
        entry.update(
            number=len(entries) + 1,
            page=attempt.page,
            attempt=attempt.number,
            wait_before_next=round(attempt.wait_before_next, 3) if last else 0.0,
        )
        entries.append(entry)
    return entries, tokens


def _refused_response(entries: list[dict[str, Any]], accepted: set[int]) -> dict[str, Any] | None:
    """The response that failed the task: the last answer to the page that never came."""
    failed = [e for e in entries if e.get("page") not in accepted]
    last = failed[-1] if failed else None
    if last is None or last.get("status") is None:
        return None
    return {
        "page": last.get("page") or len(accepted) + 1,
        "status": last["status"],
        "reason": last.get("reason", ""),
        "url": last.get("url", ""),
        "headers": last.get("response_headers", {}),
        "body": _body(last),
        "item_count": 0,
        "elapsed": last.get("elapsed", 0.0),
        "accepted": False,
    }


def _body(entry: Mapping[str, Any]) -> Any:
    """An entry's body as recordings show bodies: JSON when it parses, else the text."""
    text = entry.get("body_text")
    if not text or entry.get("body_encoding"):
        return text or None
    if nesting_exceeds(text.encode(), MAX_JSON_DEPTH):  # as RawResponse.json refuses it
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _result(result: TaskResult | None) -> dict[str, Any]:
    if result is None:
        return {"status": "unknown"}
    return {
        "status": result.status,
        "http_status": result.http_status,
        "pages": result.pages,
        "item_count": result.item_count,
        "total_reported": result.total_reported,
        "duplicates_dropped": result.duplicates_dropped,
        "complete": result.complete,
        "warnings": list(result.warnings),
        "elapsed": round(result.elapsed, 4),
        "error": result.error,
        "error_kind": result.error_kind,
        "exit_code": result.exit_code if result.status != "succeeded" else 0,
        "output": result.output,
    }


def preset_output(recording: Mapping[str, Any]) -> dict[str, Any] | None:
    """``tasks.<name>.output`` rebuilt from a successful recording, as the executor makes it."""
    from task_runner.http.response import extract_items
    from task_runner.http.tally import Tally

    if (recording.get("result") or {}).get("status") != "succeeded":
        return None
    pages = [r for r in recording.get("responses", []) if r.get("accepted", True)]
    if not pages:
        return None
    # The same de-duplication as the run that was recorded (page bodies are as they came).
    settings = recording.get("pagination") or {}
    tally = Tally(key=settings.get("key", "id"))
    items_at = str(settings.get("items") or "")
    items: list[Any] = []
    for page in pages:
        items.extend(
            tally.admit(int(page.get("page") or 1), extract_items(page.get("body"), items_at), {})
        )
    return task_output(
        status=pages[-1].get("status"),
        headers=pages[0].get("headers") or {},
        first_body=pages[0].get("body"),
        pages=len(pages),
        items=items,
        item_count=len(items),
        jsonl=None,
    )
