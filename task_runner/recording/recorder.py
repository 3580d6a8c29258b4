"""One job: watch a run and turn what each task sent and received into a recording.

Two seams of the executor feed it. As a :class:`TaskObserver` it sees each task's
prepared request, its pages and its result. As the ``client_factory`` it wraps each
connection's transport, so that it also sees every attempt on the wire -- including the
response that failed the task (a 404's body is what the user needs to see), which never
becomes a page. Token requests are not recorded: they carry credentials, not data.

Example::

    recorder = Recorder()
    options = ExecutionOptions(tasks=["list_images"], observers=[recorder],
                               client_factory=recorder.client_factory)
    result = execute(workflow, inputs, run=run, options=options)
    recording = recorder.recording("list_images", workflow=workflow, run=run, inputs=values)
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from task_runner.errors import TaskRunnerError
from task_runner.model import ConnectionConfig
from task_runner.recording.store import FORMAT, FORMAT_VERSION
from task_runner.redact import REDACTOR
from task_runner.runner.executor import TaskObserver
from task_runner.runner.result import task_output

if TYPE_CHECKING:
    from task_runner.http.client import Client
    from task_runner.http.transport import RawResponse, Transport
    from task_runner.runner.result import TaskResult
    from task_runner.workflow.model import Workflow
    from task_runner.workflow.prepare import PreparedTask, RunContext

__all__ = ["Recorder", "preset_output", "response_body"]


def _iso(moment: float) -> str:
    stamp = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def response_body(raw: RawResponse) -> Any:
    """JSON when it parses, else text, ``None`` when empty: how recordings keep bodies.

    Decoded by ``raw.json()``, which refuses JSON nested too deep to walk safely.
    """
    if not raw.content:
        return None
    try:
        return raw.json()
    except TaskRunnerError:
        return raw.text


@dataclass
class _TaskLog:
    prepared: PreparedTask | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    result: TaskResult | None = None


class _CapturingTransport:
    """A transport that logs each exchange of a task's requests, then passes it on."""

    def __init__(self, inner: Transport, recorder: Recorder, skip_urls: Sequence[str]) -> None:
        self.inner = inner
        self.recorder = recorder
        self.skip = {u.split("?", 1)[0] for u in skip_urls if u}

    def close(self) -> None:
        self.inner.close()

    def send(self, method: str, url: str, **options: Any) -> RawResponse:
        """Pass the call on unchanged (``options`` as :meth:`Transport.send` takes them)."""
        started, clock = time.time(), time.monotonic()
        recorded = not self._skipped(url, options.get("data"))
        try:
            raw = self.inner.send(method, url, **options)
        except Exception as exc:
            if recorded:
                self.recorder._exchange(
                    self._request(method, url, options, started)
                    | {"elapsed": round(time.monotonic() - clock, 4), "error": str(exc)}
                )
            raise
        if recorded:
            self.recorder._exchange(
                self._request(method, url, options, started)
                | {
                    "status": raw.status,
                    "reason": raw.reason,
                    "response_headers": dict(raw.headers),
                    "mime_type": raw.headers.get("Content-Type", ""),
                    "size": len(raw.content),
                    "body": response_body(raw),
                    "elapsed": round(raw.elapsed or time.monotonic() - clock, 4),
                    "redirects": list(raw.history),
                    "error": None,
                }
            )
        return raw

    def _skipped(self, url: str, data: Mapping[str, str] | None) -> bool:
        # Token requests are form posts to the token URL: never recorded.
        return data is not None or url.split("?", 1)[0] in self.skip

    @staticmethod
    def _request(
        method: str, url: str, options: Mapping[str, Any], started: float
    ) -> dict[str, Any]:
        params: Sequence[tuple[str, str]] = options.get("params") or ()
        full = url
        if params:
            full += ("&" if urlsplit(url).query else "?") + urlencode(list(params))
        return {
            "started_at": _iso(started),
            "method": method,
            "url": full,
            "query": [[k, v] for k, v in params],
            "request_headers": REDACTOR.redact_headers(dict(options.get("headers") or {})),
            "request_body": options.get("json"),
        }


class Recorder(TaskObserver):
    """Collects, per task, the prepared request, pages, wire exchanges and result."""

    def __init__(self) -> None:
        self._tasks: dict[str, _TaskLog] = {}
        self._lock = threading.Lock()
        # The task whose requests are on the wire now. Pages may be fetched on helper
        # threads, so this is not thread-local: run one task at a time (max_workers=1)
        # when recording, as test-request does.
        self._current: str | None = None

    def _log(self, task: str) -> _TaskLog:
        with self._lock:
            return self._tasks.setdefault(task, _TaskLog())

    # --- executor seams ---------------------------------------------------------------

    def client_factory(self, connection: ConnectionConfig) -> Client:
        from task_runner.http.client import Client
        from task_runner.http.transport import RequestsTransport

        inner = RequestsTransport(
            verify=connection.verify, pool_size=max(1, connection.max_concurrency)
        )
        skip = [connection.auth.token_url or ""]
        return Client(connection, transport=_CapturingTransport(inner, self, skip))

    def task_started(self, task: str, prepared: PreparedTask) -> None:
        with self._lock:
            self._current = task
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
        with self._lock:
            if self._current == task:
                self._current = None

    def _exchange(self, exchange: dict[str, Any]) -> None:
        with self._lock:
            task = self._current
            if task is not None:
                self._tasks.setdefault(task, _TaskLog()).exchanges.append(exchange)

    # --- results ----------------------------------------------------------------------

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
    ) -> dict[str, Any] | None:
        """The recording of ``task`` (redacted), or None when it never started."""
        from task_runner.workflow.display import request_as_dict

        log = self._tasks.get(task)
        if log is None or log.prepared is None:
            return None
        prepared, result = log.prepared, log.result
        exchanges = _number_exchanges(log.exchanges, log.pages)
        responses = list(log.pages)
        failed = _failing_response(exchanges, len(responses))
        if result is not None and result.status == "failed" and failed is not None:
            responses.append(failed)
        recording = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "recorded_at": _iso(time.time()),
            "workflow": workflow.name,
            "workflow_file": str(workflow.path),
            "task": task,
            "operation": prepared.operation_id,
            "connection": prepared.connection.name,
            "run_id": run.id,
            "inputs": dict(inputs),
            "params": dict(prepared.params),
            "request": request_as_dict(prepared.request, prepared.connection),
            "pagination": {
                "mode": prepared.pagination.mode,
                "key": prepared.pagination.key,
                "on_mismatch": prepared.pagination.on_mismatch,
                "items": prepared.expect.items_at,
            },
            "responses": responses,
            "attempts": exchanges,
            "result": _result(result),
            "upstream": dict(upstream or {}),
        }
        return REDACTOR.redact_obj(recording)  # type: ignore[no-any-return]


def _number_exchanges(
    exchanges: list[dict[str, Any]], pages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Attempt numbers, and the page each accepted exchange became.

    A page's body is kept once, in ``responses``; its exchange points there with
    ``page`` instead of repeating it. Bodies of refused attempts (429, 5xx, the final
    4xx) stay with the attempt: nothing else holds them.
    """
    numbered: list[dict[str, Any]] = []
    page_index = 0
    for number, exchange in enumerate(exchanges, start=1):
        item = {"number": number, **exchange}
        if (
            page_index < len(pages)
            and exchange.get("status") == pages[page_index]["status"]
            and _same_resource(exchange.get("url", ""), pages[page_index]["url"])
        ):
            item["page"] = pages[page_index]["page"]
            item.pop("body", None)
            page_index += 1
        numbered.append(item)
    return numbered


def _same_resource(sent: str, answered: str) -> bool:
    # The page URL is the final one (after redirects); compare the paths only.
    return urlsplit(sent).path.rstrip("/") == urlsplit(answered).path.rstrip("/") or not answered


def _failing_response(exchanges: list[dict[str, Any]], pages: int) -> dict[str, Any] | None:
    last = exchanges[-1] if exchanges else None
    if last is None or last.get("status") is None or "page" in last:
        return None
    return {
        "page": pages + 1,
        "status": last["status"],
        "reason": last.get("reason", ""),
        "url": last.get("url", ""),
        "headers": last.get("response_headers", {}),
        "body": last.get("body"),
        "item_count": 0,
        "elapsed": last.get("elapsed", 0.0),
        "accepted": False,
    }


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
