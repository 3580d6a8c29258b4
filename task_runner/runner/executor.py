"""Run a workflow: tasks in dependency order, independent ones concurrently.

Before anything is sent, every task that does not read another task's output is
prepared (rendered and validated), so input mistakes stop the run with exit code 2
and nothing on the wire. A failed task skips its dependents and fails the run.

Example::

    result = execute(load_workflow("wf.yaml"), {"company_id": 8089, "project_id": 777})
    print(result.status, result.tasks["list_images"].item_count)
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from task_runner.errors import (
    InputError,
    InputErrors,
    Interrupted,
    PaginationError,
    TaskRunnerError,
    raise_if_any,
    task_context,
)
from task_runner.model import ConnectionConfig, Expect, Pagination
from task_runner.redact import REDACTOR
from task_runner.runner.result import RunResult, TaskResult, task_output
from task_runner.workflow.model import Workflow
from task_runner.workflow.prepare import PreparedTask, Preparer, RunContext, resolve_inputs

__all__ = ["ExecutionOptions", "TaskObserver", "execute"]

log = logging.getLogger("task_runner.runner")


class TaskObserver:
    """Hooks for recordings, history and progress; every method is optional."""

    def task_started(self, task: str, prepared: PreparedTask) -> None: ...
    def page(self, task: str, prepared: PreparedTask, page: Any) -> None: ...
    def task_finished(self, task: str, result: TaskResult) -> None: ...


@dataclass
class ExecutionOptions:
    """How to execute: which tasks, how many at once, what to watch, what to override."""

    tasks: list[str] | None = None  # a subset (with what they depend on, unless preset)
    max_workers: int = 4
    connection_overrides: Mapping[str, ConnectionConfig] = field(default_factory=dict)
    preset_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    client_factory: Callable[[ConnectionConfig], Any] | None = None
    observers: list[TaskObserver] = field(default_factory=list)
    progress: Callable[[Any], None] | None = None
    cancel: threading.Event | None = None
    max_pages: int | None = None  # cap pages (test-request --pages)
    keep_items_in_memory: bool = True
    environ: Mapping[str, str] | None = None
    # Per windowed task: digests of the items earlier, overlapping windows delivered.
    delivered_before: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Where a task's JSONL goes instead of its output.jsonl (None: nowhere); test-request
    # writes beside its recording, never where scheduled runs publish.
    jsonl_path: Callable[[PreparedTask], str | None] | None = None


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def execute(
    workflow: Workflow,
    inputs: Mapping[str, Any],
    *,
    run: RunContext | None = None,
    options: ExecutionOptions | None = None,
) -> RunResult:
    """Run ``workflow`` once; raise InputErrors (nothing sent) or return the result."""
    options = options or ExecutionOptions()
    run = run or RunContext.now(
        workflow.name, lookback=workflow.window.initial_lookback, lag=workflow.window.lag
    )
    values = resolve_inputs(workflow, inputs)
    preparer = Preparer(
        workflow,
        values,
        run,
        environ=options.environ,
        connection_overrides=options.connection_overrides,
    )
    for name, output in options.preset_outputs.items():
        preparer.set_output(name, output)
    selected = _selected(workflow, options)
    prepared = _prepare_upfront(preparer, workflow, selected, set(options.preset_outputs))
    runner = _Runner(workflow, preparer, options, prepared)
    try:
        tasks = runner.run(selected)
    finally:
        runner.close()
    status = _run_status(tasks, runner.cancel.is_set())
    failed = [n for n, t in tasks.items() if t.status in ("failed", "interrupted")]
    failed = failed or [
        n for n, t in tasks.items() if t.status == "skipped" and not t.skipped_by_condition
    ]
    error = None
    if failed:
        first = tasks[failed[0]]
        error = REDACTOR.redact(f"task {failed[0]!r} {first.status}: {first.error}")
    return RunResult(
        run_id=run.id,
        workflow=workflow.name,
        status=status,
        started_at=_iso(run.started_at) or "",
        finished_at=_iso(dt.datetime.now(dt.timezone.utc).replace(microsecond=0)) or "",
        tasks=tasks,
        trigger=run.trigger,
        window_start=_iso(run.window_start),
        window_end=_iso(run.window_end),
        error=error,
    )


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status behind an error, also when a page error wraps it."""
    seen: BaseException | None = exc
    while seen is not None:
        status = getattr(seen, "status", None)
        if isinstance(status, int):
            return status
        seen = seen.__cause__
    return None


def _run_status(tasks: Mapping[str, TaskResult], cancelled: bool) -> str:
    # A task skipped by its own `when` (or below one) is the workflow's choice, not a failure.
    statuses = {t.status for t in tasks.values() if not t.skipped_by_condition}
    # A cancelled run that skipped tasks did not do its work, even if no task failed.
    if "interrupted" in statuses or (cancelled and statuses - {"succeeded"}):
        return "interrupted"
    return "failed" if statuses - {"succeeded"} else "succeeded"


def _selected(workflow: Workflow, options: ExecutionOptions) -> list[str]:
    if not options.tasks:
        return workflow.order()
    wanted: set[str] = set()
    for name in options.tasks:
        workflow.task(name)  # unknown names are an input error
        wanted.add(name)
        wanted |= {u for u in workflow.upstream(name) if u not in options.preset_outputs}
    return [n for n in workflow.order() if n in wanted]


def _prepare_upfront(
    preparer: Preparer, workflow: Workflow, selected: list[str], preset: set[str]
) -> dict[str, PreparedTask]:
    """Prepare every task whose templates need no task output; all errors at once."""
    errors: list[InputError] = []
    prepared: dict[str, PreparedTask] = {}
    for name in selected:
        task = workflow.tasks[name]
        if task.references - preset:
            continue
        try:
            with task_context(name, task.location):
                prepared[name] = preparer.prepare(name)
        except InputErrors as exc:
            errors.extend(exc.errors)
        except InputError as exc:
            errors.append(exc)
    raise_if_any(errors)
    return prepared


class _Runner:
    def __init__(
        self,
        workflow: Workflow,
        preparer: Preparer,
        options: ExecutionOptions,
        prepared: dict[str, PreparedTask],
    ) -> None:
        self.workflow = workflow
        self.preparer = preparer
        self.options = options
        self.prepared = prepared
        self.cancel = options.cancel or threading.Event()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, connection: ConnectionConfig) -> Any:
        with self._lock:
            client = self._clients.get(connection.name)
            if client is None:
                if self.options.client_factory is not None:
                    client = self.options.client_factory(connection)
                else:
                    from task_runner.http.client import Client

                    client = Client(connection)
                self._clients[connection.name] = client
            return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def run(self, order: list[str]) -> dict[str, TaskResult]:
        results = {name: TaskResult(name) for name in order}
        deps = {n: {d for d in self.workflow.tasks[n].dependencies if d in results} for n in order}
        running: dict[Future[TaskResult], str] = {}
        with ThreadPoolExecutor(
            max_workers=max(1, self.options.max_workers), thread_name_prefix="task"
        ) as pool:
            while True:
                for name in order:
                    result = results[name]
                    if result.status != "pending" or name in running.values():
                        continue
                    blocked = [
                        d
                        for d in deps[name]
                        if results[d].status in ("failed", "skipped", "interrupted")
                        and not results[d].skipped_by_condition
                    ]
                    by_condition = [d for d in deps[name] if results[d].skipped_by_condition]
                    if blocked:
                        result.status = "skipped"
                        result.error = f"skipped because task {blocked[0]!r} did not succeed"
                        self._notify_finished(name, result)
                    elif by_condition:
                        # Not a failure: the workflow chose not to run that branch.
                        result.status, result.skipped_by_condition = "skipped", True
                        result.error = (
                            f"skipped because task {by_condition[0]!r} was skipped by its `when`"
                        )
                        self._notify_finished(name, result)
                    elif self.cancel.is_set():
                        result.status = "skipped"
                        result.error = "skipped because the run was interrupted"
                        self._notify_finished(name, result)
                    elif all(results[d].status == "succeeded" for d in deps[name]):
                        running[pool.submit(self.run_task, name, result)] = name
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    future.result()
        return results

    def run_task(self, name: str, result: TaskResult) -> TaskResult:
        task = self.workflow.tasks[name]
        started = time.monotonic()
        try:
            with task_context(name, task.location):
                if not self.preparer.should_run(name):
                    result.status, result.skipped_by_condition = "skipped", True
                    result.error = f"skipped: its `when` condition is false ({task.when})"
                    self._notify_finished(name, result)
                    return result
                prepared = self.prepared.get(name) or self.preparer.prepare(name)
                for observer in self.options.observers:
                    observer.task_started(name, prepared)
                self._send(prepared, result)
                result.status = "succeeded"
        except Interrupted as exc:
            result.status, result.error, result.exit_code = (
                "interrupted",
                exc.format(),
                exc.exit_code,
            )
        except TaskRunnerError as exc:
            result.status, result.error = "failed", REDACTOR.redact(exc.format())
            result.error_kind, result.exit_code = type(exc).__name__, exc.exit_code
            result.http_status = _http_status(exc) or result.http_status
            # info, not warning: the CLI summary and the scheduler's run line report it
            log.info("task %s failed: %s", name, result.error)
        except Exception as exc:  # a bug, not the user's input: keep the run's other tasks going
            log.exception("task %s crashed", name)
            result.status, result.error = (
                "failed",
                REDACTOR.redact(f"internal error: {type(exc).__name__}: {exc}"),
            )
            result.error_kind, result.exit_code = type(exc).__name__, 1
        result.elapsed = time.monotonic() - started
        if result.status == "succeeded" and result.response is not None:
            self.preparer.set_output(name, result.response)
        self._notify_finished(name, result)
        return result

    def _notify_finished(self, name: str, result: TaskResult) -> None:
        for observer in self.options.observers:
            observer.task_finished(name, result)

    def _send(self, prepared: PreparedTask, result: TaskResult) -> None:
        from task_runner.http.sink import make_sink
        from task_runner.http.tally import Tally

        pagination = self._pagination(prepared)
        windowed = self.workflow.tasks[prepared.name].windowed
        tally = Tally(
            key=pagination.key,
            version=pagination.version,
            total_header=pagination.total_header,
            previously=self.options.delivered_before.get(prepared.name, frozenset()),
            remember=windowed,
        )
        pages = self.client(prepared.connection).fetch(
            prepared.request,
            retry=prepared.retry,
            timeout=prepared.timeout,
            expect=self._expect(prepared, pagination),
            pagination=pagination,
            progress=self.options.progress,
            tally=tally,
        )
        choose = self.options.jsonl_path
        jsonl = choose(prepared) if choose else prepared.output_jsonl
        sink = make_sink("jsonl", str(jsonl)).open() if jsonl else None
        items: list[Any] = []
        first: Any = None  # its headers (and, alone, its body) are the task's output
        try:
            for page in pages:
                if self.cancel.is_set():
                    raise Interrupted(f"interrupted after page {page.number}")
                if first is None:
                    first = page
                result.pages += 1
                result.item_count += len(page.items)
                result.http_status = page.status
                result.attempts.extend(a.to_dict() for a in page.attempts)
                for observer in self.options.observers:
                    observer.page(prepared.name, prepared, page)
                if sink is not None:
                    sink.write_all(page.items)
                elif self.options.keep_items_in_memory:
                    items.extend(page.items)
            result.set_tally(tally.summary())
            if tally.mismatches and pagination.on_mismatch == "fail":
                raise PaginationError(
                    "cannot vouch for the listing (paginate.on_mismatch: fail): "
                    + "; ".join(tally.mismatches),
                    task=prepared.name,
                )
            if sink is not None:
                sink.commit()
                result.output = str(jsonl)
            result.delivered = tally.delivered
        except BaseException:
            if sink is not None:
                sink.abort()
            if tally.pages:
                result.set_tally(tally.summary())
            raise
        result.response = task_output(
            status=result.http_status,
            headers=first.headers if first is not None else {},
            first_body=first.body if first is not None else None,
            pages=result.pages,
            items=items,
            item_count=result.item_count,
            jsonl=result.output,
        )
        self._check_expectations(prepared, result)

    def _expect(self, prepared: PreparedTask, pagination: Pagination) -> Expect:
        """The task's expectations plus the body its operation promises: a paginated
        task, or a list operation (one that takes the page parameters), answers a list."""
        expect = prepared.expect
        if expect.items != "any":
            return expect
        operation = self.workflow.operations.get(self.workflow.tasks[prepared.name].operation or "")
        names = {p.name for p in (operation.parameters if operation else ())}
        if pagination.enabled or {pagination.page_param, pagination.per_page_param} <= names:
            return replace(expect, items="list")
        return expect

    def _pagination(self, prepared: PreparedTask) -> Pagination:
        """The task's pagination, capped at ``options.max_pages`` (test-request --pages)."""
        pagination, cap = prepared.pagination, self.options.max_pages
        if cap is None:
            return pagination
        return replace(
            pagination,
            mode="pages" if pagination.enabled else "none",
            max_pages=min(cap, pagination.max_pages or cap),
        )

    def _check_expectations(self, prepared: PreparedTask, result: TaskResult) -> None:
        """Every ``expect`` check on the task's output; all failures in one ChecksFailed."""
        from task_runner.recording.schema import response_schema_path
        from task_runner.runner.checks import enforce

        stored = None
        if prepared.expect.schema == "stored":
            stored = response_schema_path(self.workflow, prepared.name)
        enforce(
            prepared.expect,
            result.response,
            task=prepared.name,
            templates=self.workflow.templates,
            stored_schema=stored,
        )
