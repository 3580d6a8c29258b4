"""Run a workflow: tasks in dependency order, independent ones concurrently.

Before anything is sent, every task that does not read another task's output is
prepared (rendered and validated), so input mistakes stop the run with exit code 2
and nothing on the wire. A failed task skips its dependents and fails the run.

Example::

    result = execute(load_workflow("wf.yaml"), {"company_id": 8089, "project_id": 777})
    print(result.status, result.tasks["list_images"].item_count)
"""

from __future__ import annotations

import contextvars
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
    # for_each: run only the first N items of each fan-out (test-request --items N).
    max_items: int | None = None
    # for_each: where finished items are checkpointed, so a run id resumes (None: not).
    checkpoint_dir: str | None = None
    # False (test-request): sinks other than the JSONL are not written, files are
    # downloaded and checked but not saved; nothing lands where scheduled runs publish.
    publish: bool = True


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
    if status == "succeeded":
        from task_runner.runner.fanout import remove_checkpoints

        remove_checkpoints(options.checkpoint_dir, run.id)
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
        if task.references - preset or task.for_each is not None:
            continue  # prepared when it runs (per item, for a for_each task)
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
        self._started: set[str] = set()  # for_each tasks whose observers heard task_started

    def client(self, connection: ConnectionConfig) -> Any:
        with self._lock:
            client = self._clients.get(connection.name)
            if client is None:
                if self.options.client_factory is not None:
                    client = self.options.client_factory(connection)
                else:
                    from task_runner.http.client import Client
                    from task_runner.http.clock import CancellableClock, SystemClock

                    # a cancel (Ctrl-C, a lost lease) ends a retry or rate-limit wait at once
                    client = Client(connection, clock=CancellableClock(SystemClock(), self.cancel))
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
                        # In this thread's context: secrets a task registers belong to
                        # the run's redaction scope (task_runner.redact), not the process.
                        context = contextvars.copy_context()
                        running[pool.submit(context.run, self.run_task, name, result)] = name
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
                if task.for_each is not None:
                    from task_runner.runner.fanout import run_fanout

                    run_fanout(self, name, result)
                else:
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
        from task_runner.http.tally import Tally
        from task_runner.sinks.outputs import TaskOutputs

        outputs = TaskOutputs.open(
            jsonl=self.jsonl_target(prepared.name, prepared),
            sinks=self.sinks_of(prepared.name),
            context=self.sink_context(prepared.name, prepared),
        )
        if prepared.files_path is not None:
            self._send_file(prepared, result, outputs)
            return
        pagination = self._pagination(prepared)
        windowed = self.workflow.tasks[prepared.name].windowed
        tally = Tally(
            key=pagination.key,
            version=pagination.version,
            total_header=pagination.total_header,
            previously=self.options.delivered_before.get(prepared.name, frozenset()),
            remember=windowed,
        )
        items: list[Any] = []
        first: Any = None  # its headers (and, alone, its body) are the task's output
        try:
            pages = self.client(prepared.connection).fetch(
                prepared.request,
                retry=prepared.retry,
                timeout=prepared.timeout,
                expect=self._expect(prepared, pagination),
                pagination=pagination,
                progress=self.options.progress,
                tally=tally,
            )
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
                if outputs:
                    outputs.write_all(page.items)
                if "jsonl" not in outputs.kinds and self.options.keep_items_in_memory:
                    items.extend(page.items)
            result.set_tally(tally.summary())
            if tally.mismatches and pagination.on_mismatch == "fail":
                raise PaginationError(
                    "cannot vouch for the listing (paginate.on_mismatch: fail): "
                    + "; ".join(tally.mismatches),
                    task=prepared.name,
                )
            outputs.commit()
            result.delivered = tally.delivered
        except BaseException:
            outputs.abort()
            if tally.pages:
                result.set_tally(tally.summary())
            raise
        jsonl = self._jsonl_written(prepared.name, outputs, prepared)
        result.output = jsonl
        result.response = task_output(
            status=result.http_status,
            headers=first.headers if first is not None else {},
            first_body=first.body if first is not None else None,
            pages=result.pages,
            items=items,
            item_count=result.item_count,
            jsonl=jsonl,
        )
        self._check_expectations(prepared, result)

    # --- outputs: sinks and files (shared with task_runner.runner.fanout) ----------

    def jsonl_target(self, name: str, prepared: PreparedTask | None = None) -> str | None:
        """Where the task's JSONL goes (test-request: beside its recording), or None."""
        if prepared is None:
            task = self.workflow.tasks[name]
            if not task.output_jsonl:
                return None
            prepared = replace_output(self.preparer, name)
        choose = self.options.jsonl_path
        target = choose(prepared) if choose else prepared.output_jsonl
        return str(target) if target else None

    def _jsonl_written(
        self, name: str, outputs: Any, prepared: PreparedTask | None = None
    ) -> str | None:
        return self.jsonl_target(name, prepared) if "jsonl" in outputs.kinds else None

    def sinks_of(self, name: str) -> dict[str, Any]:
        """The task's sinks besides JSONL, rendered (none unless publishing)."""
        if not self.options.publish or not self.workflow.tasks[name].sinks:
            return {}
        return self.preparer.render_sinks(name)

    def sink_context(self, name: str, prepared: PreparedTask | None = None) -> Any:
        from task_runner.sinks.outputs import sink_context

        task = self.workflow.tasks[name]
        key = task.for_each.key if task.for_each is not None and task.files else None
        if key is None:
            key = prepared.pagination.key if prepared is not None else task.pagination.key
        return sink_context(self.workflow, name, self.preparer.run.id, key)

    def finish_output(self, result: TaskResult, items: list[Any], outputs: Any) -> None:
        """The output of a for_each task: its rows in item order, its sinks' files."""
        jsonl = self._jsonl_written(result.name, outputs)
        result.output = jsonl
        result.response = task_output(
            status=result.http_status,
            headers={},
            first_body=None,
            pages=result.pages,
            items=items,
            item_count=result.item_count,
            jsonl=jsonl,
        )
        result.response["for_each"] = result.fan_out
        fan_out = result.fan_out or {}
        # complete: every item ran and none failed (test-request's first N is not)
        result.complete = not fan_out.get("failed") and not fan_out.get("not_run")

    def send_item(
        self, prepared: PreparedTask, outcome: Any, *, item_key_field: str, key: Any
    ) -> None:
        """One item of a for_each task: its file, or its pages' items, into ``outcome``."""
        if self.options.observers:
            with self._lock:
                if prepared.name not in self._started:  # recordings show the first item's
                    self._started.add(prepared.name)
                    for observer in self.options.observers:
                        observer.task_started(prepared.name, prepared)
        if prepared.files_path is not None:
            record, status = self._download(prepared, outcome.attempts)
            outcome.rows = [{item_key_field: key, **record}]
            outcome.pages, outcome.http_status = 1, status
            return
        from task_runner.http.tally import Tally

        pagination = self._pagination(prepared)
        # One item's response is not a listing to vouch for, unless it paginates.
        tally = Tally(
            key=pagination.key,
            total_header=pagination.total_header if pagination.enabled else "",
        )
        pages = self.client(prepared.connection).fetch(
            prepared.request,
            retry=prepared.retry,
            timeout=prepared.timeout,
            expect=self._expect(prepared, pagination),
            pagination=pagination,
            tally=tally,
        )
        for page in pages:
            outcome.pages += 1
            outcome.http_status = page.status
            outcome.rows.extend(page.items)
            outcome.attempts.extend(a.to_dict() for a in page.attempts)
            if self.options.observers:
                with self._lock:
                    for observer in self.options.observers:
                        observer.page(prepared.name, prepared, page)

    def _download(self, prepared: PreparedTask, attempts: list[Any]) -> tuple[dict[str, Any], int]:
        """The task's response streamed into its ``output.files`` path: ``(record, status)``."""
        from task_runner.sinks.download import stream_to_file
        from task_runner.sinks.files import safe_path

        spec = self.workflow.tasks[prepared.name].files
        assert spec is not None and prepared.files_path is not None
        tried: list[Any] = []
        try:
            return stream_to_file(
                self.client(prepared.connection),
                prepared.request,
                safe_path(prepared.files_path, task=prepared.name),
                retry=prepared.retry,
                timeout=prepared.timeout,
                expect=prepared.expect,
                content_types=spec.content_types,
                max_bytes=spec.max_bytes,
                write=self.options.publish,
                attempts=tried,
            )
        finally:
            attempts.extend(a.to_dict() for a in tried)

    def _send_file(self, prepared: PreparedTask, result: TaskResult, outputs: Any) -> None:
        """A task (no for_each) whose one response is a file."""
        try:
            attempts: list[Any] = []
            try:
                record, status = self._download(prepared, attempts)
            finally:
                result.attempts.extend(attempts)
            result.pages, result.item_count, result.http_status = 1, 1, status
            if outputs:
                outputs.write_all([record])
            outputs.commit()
        except BaseException:
            outputs.abort()
            raise
        jsonl = self._jsonl_written(prepared.name, outputs, prepared)
        result.output = jsonl
        result.complete = True
        result.response = task_output(
            status=status,
            headers={},
            first_body=record,
            pages=1,
            items=[record],
            item_count=1,
            jsonl=jsonl,
        )

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


def replace_output(preparer: Preparer, name: str) -> PreparedTask:
    """A stand-in PreparedTask carrying only the rendered ``output.jsonl`` of ``name``
    (a for_each task has no one request to prepare)."""
    task = preparer.workflow.tasks[name]
    target = preparer.render_output_jsonl(name) if task.output_jsonl else None
    return _OutputOnly(name=name, output_jsonl=target)  # type: ignore[return-value]


@dataclass(frozen=True)
class _OutputOnly:
    name: str
    output_jsonl: str | None
