"""Run a workflow: tasks in dependency order, independent ones concurrently.

Before anything is sent, every task that does not read another task's output is
prepared (rendered and validated), so input mistakes stop the run with exit code 2
and nothing on the wire. A failed task skips its dependents and fails the run.

Here: :func:`execute` and the task graph. One request's pages, files and checks are in
:mod:`~task_runner.runner.send`, ``for_each`` items in :mod:`~task_runner.runner.fanout`,
the options and observer hooks in :mod:`~task_runner.runner.options` (re-exported).

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
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from task_runner.errors import (
    InputError,
    InputErrors,
    Interrupted,
    TaskRunnerError,
    raise_if_any,
    task_context,
)
from task_runner.model import ConnectionConfig
from task_runner.redact import REDACTOR
from task_runner.runner.options import ExecutionOptions, TaskObserver
from task_runner.runner.result import RunResult, TaskResult, task_output
from task_runner.workflow.model import Workflow
from task_runner.workflow.prepare import PreparedTask, Preparer, RunContext, resolve_inputs

__all__ = ["ExecutionOptions", "TaskObserver", "execute"]

log = logging.getLogger("task_runner.runner")


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
    preparer = _preparer(workflow, inputs, run, options)
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
        error=_run_error(tasks),
    )


def _preparer(
    workflow: Workflow, inputs: Mapping[str, Any], run: RunContext, options: ExecutionOptions
) -> Preparer:
    """The run's Preparer over the resolved inputs, holding the preset task outputs."""
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
    return preparer


def _run_error(tasks: Mapping[str, TaskResult]) -> str | None:
    """The run's error line: the first failed (or interrupted) task's, else the first
    task skipped for a reason other than its ``when``; None when there is none."""
    failed = [n for n, t in tasks.items() if t.status in ("failed", "interrupted")]
    failed = failed or [
        n for n, t in tasks.items() if t.status == "skipped" and not t.skipped_by_condition
    ]
    if not failed:
        return None
    first = tasks[failed[0]]
    return REDACTOR.redact(f"task {failed[0]!r} {first.status}: {first.error}")


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
    """One run's task graph: shared HTTP clients (one per connection), the observers,
    the cancel event, and each task's outputs (shared with the fan-out and send paths)."""

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
                    upstream = [results[d] for d in deps[name]]
                    if self._skip_if_blocked(name, result, upstream):
                        continue
                    if all(u.status == "succeeded" for u in upstream):
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

    def _skip_if_blocked(self, name: str, result: TaskResult, upstream: list[TaskResult]) -> bool:
        """Mark ``result`` skipped (and tell the observers) when an upstream task did
        not succeed, was skipped by its ``when``, or the run was cancelled."""
        blocked = [
            u.name
            for u in upstream
            if u.status in ("failed", "skipped", "interrupted") and not u.skipped_by_condition
        ]
        by_condition = [u.name for u in upstream if u.skipped_by_condition]
        if blocked:
            result.status = "skipped"
            result.error = f"skipped because task {blocked[0]!r} did not succeed"
        elif by_condition:
            # Not a failure: the workflow chose not to run that branch.
            result.status, result.skipped_by_condition = "skipped", True
            result.error = f"skipped because task {by_condition[0]!r} was skipped by its `when`"
        elif self.cancel.is_set():
            result.status = "skipped"
            result.error = "skipped because the run was interrupted"
        else:
            return False
        self._notify_finished(name, result)
        return True

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
                self._run_body(name, result)
                result.status = "succeeded"
        except Interrupted as exc:
            result.status, result.error, result.exit_code = (
                "interrupted",
                exc.format(),
                exc.exit_code,
            )
        except TaskRunnerError as exc:
            _record_failure(name, result, exc)
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

    def _run_body(self, name: str, result: TaskResult) -> None:
        """The task's requests: its fan-out, or its one prepared request."""
        if self.workflow.tasks[name].for_each is not None:
            from task_runner.runner.fanout import run_fanout

            run_fanout(self, name, result)
            return
        from task_runner.runner.send import send

        prepared = self.prepared.get(name) or self.preparer.prepare(name)
        for observer in self.options.observers:
            observer.task_started(name, prepared)
        send(self, prepared, result)

    def _notify_finished(self, name: str, result: TaskResult) -> None:
        for observer in self.options.observers:
            observer.task_finished(name, result)

    def announce_start_once(self, prepared: PreparedTask) -> None:
        """Tell the observers a for_each task started, on its first item only (so a
        recording shows the first item's request)."""
        if not self.options.observers:
            return
        with self._lock:
            if prepared.name not in self._started:
                self._started.add(prepared.name)
                for observer in self.options.observers:
                    observer.task_started(prepared.name, prepared)

    def observe_page(self, prepared: PreparedTask, page: Any) -> None:
        """One for_each item's page to the observers (one item thread at a time)."""
        if not self.options.observers:
            return
        with self._lock:
            for observer in self.options.observers:
                observer.page(prepared.name, prepared, page)

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

    def jsonl_written(
        self, name: str, outputs: Any, prepared: PreparedTask | None = None
    ) -> str | None:
        """The JSONL file ``outputs`` wrote for the task, or None when it wrote none."""
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
        jsonl = self.jsonl_written(result.name, outputs)
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


def _record_failure(name: str, result: TaskResult, exc: TaskRunnerError) -> None:
    """A task's error (redacted), its kind, exit code and HTTP status into ``result``."""
    result.status, result.error = "failed", REDACTOR.redact(exc.format())
    result.error_kind, result.exit_code = type(exc).__name__, exc.exit_code
    result.http_status = _http_status(exc) or result.http_status
    if result.complete:  # what it fetched was not all delivered (a sink refused it)
        result.complete = False
    # info, not warning: the CLI summary and the scheduler's run line report it
    log.info("task %s failed: %s", name, result.error)


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
