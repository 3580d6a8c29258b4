"""The single-request send path: one prepared task's pages (or its one file) into its
:class:`~task_runner.runner.result.TaskResult` and its outputs.

Holds :func:`send` (a task without ``for_each``), :func:`send_item` (one item of a
``for_each`` task, called by :mod:`task_runner.runner.fanout`), the one place that builds
a :class:`~task_runner.http.tally.Tally` and calls ``client.fetch`` (:func:`open_fetch`),
file downloads, the ``--pages`` cap, the expectations a list operation implies, and the
task's ``expect`` checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from task_runner.errors import Interrupted, PaginationError
from task_runner.runner.result import TaskResult, task_output

if TYPE_CHECKING:
    from task_runner.http.tally import Tally
    from task_runner.model import Expect, Pagination
    from task_runner.runner.executor import _Runner
    from task_runner.workflow.model import Workflow
    from task_runner.workflow.prepare import PreparedTask

__all__ = [
    "Fetch",
    "capped_pagination",
    "check_expectations",
    "implied_expect",
    "open_fetch",
    "send",
    "send_item",
]


@dataclass
class Fetch:
    """A started fetch: the pagination it uses, the tally its items pass through, and
    its pages (a lazy iterator: nothing is sent before the first ``next``)."""

    pagination: Pagination
    tally: Tally
    pages: Iterator[Any]


def open_fetch(runner: _Runner, prepared: PreparedTask, *, whole_task: bool) -> Fetch:
    """The task's pages with their :class:`~task_runner.http.tally.Tally`.

    ``whole_task``: the listing of a task (vouched for: versioned keys, windows'
    earlier deliveries, progress reported); else one ``for_each`` item's response,
    which is not a listing to vouch for unless it paginates.
    """
    from task_runner.http.tally import Tally

    pagination = capped_pagination(prepared.pagination, runner.options.max_pages)
    if whole_task:
        tally = Tally(
            key=pagination.key,
            version=pagination.version,
            total_header=pagination.total_header,
            previously=runner.options.delivered_before.get(prepared.name, frozenset()),
            remember=runner.workflow.tasks[prepared.name].windowed,
        )
    else:
        tally = Tally(
            key=pagination.key,
            total_header=pagination.total_header if pagination.enabled else "",
        )
    pages = runner.client(prepared.connection).fetch(
        prepared.request,
        retry=prepared.retry,
        timeout=prepared.timeout,
        expect=implied_expect(runner.workflow, prepared, pagination),
        pagination=pagination,
        progress=runner.options.progress if whole_task else None,
        tally=tally,
    )
    return Fetch(pagination, tally, pages)


def send(runner: _Runner, prepared: PreparedTask, result: TaskResult) -> None:
    """Send the task ``prepared`` (no ``for_each``): its pages into ``result`` and its
    outputs (committed only when every page arrived and the tally holds), then its
    ``expect`` checks. Raises the fetch's errors, :class:`Interrupted` on cancel,
    :class:`PaginationError` (``paginate.on_mismatch: fail``) or ``ChecksFailed``."""
    from task_runner.sinks.outputs import TaskOutputs, record_sinks

    outputs = TaskOutputs.open(
        jsonl=runner.jsonl_target(prepared.name, prepared),
        sinks=runner.sinks_of(prepared.name),
        context=runner.sink_context(prepared.name, prepared),
    )
    if prepared.files_path is not None:
        _send_file(runner, prepared, result, outputs)
        return
    fetch: Fetch | None = None
    try:
        fetch = open_fetch(runner, prepared, whole_task=True)
        first, items = _read_pages(runner, prepared, result, fetch, outputs)
        _vouch(prepared, result, fetch)
        outputs.commit()
        result.delivered = fetch.tally.delivered
    except BaseException:
        outputs.abort()
        if fetch is not None and fetch.tally.pages:
            result.set_tally(fetch.tally.summary())
        raise
    jsonl = runner.jsonl_written(prepared.name, outputs, prepared)
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
    record_sinks(result, outputs)
    check_expectations(runner.workflow, prepared, result)


def _read_pages(
    runner: _Runner, prepared: PreparedTask, result: TaskResult, fetch: Fetch, outputs: Any
) -> tuple[Any, list[Any]]:
    """Every page into ``result``, the observers and ``outputs``: ``(first page, items
    kept in memory)``; the first page's headers (and, alone, its body) are the output."""
    items: list[Any] = []
    first: Any = None
    for page in fetch.pages:
        if runner.cancel.is_set():
            raise Interrupted(f"interrupted after page {page.number}")
        if first is None:
            first = page
        result.pages += 1
        result.item_count += len(page.items)
        result.http_status = page.status
        result.attempts.extend(a.to_dict() for a in page.attempts)
        for observer in runner.options.observers:
            observer.page(prepared.name, prepared, page)
        if outputs:
            outputs.write_all(page.items)
        if "jsonl" not in outputs.kinds and runner.options.keep_items_in_memory:
            items.extend(page.items)
    return first, items


def _vouch(prepared: PreparedTask, result: TaskResult, fetch: Fetch) -> None:
    """The tally's summary into ``result``; PaginationError when the listing does not
    add up and the task says ``paginate.on_mismatch: fail``."""
    result.set_tally(fetch.tally.summary())
    if fetch.tally.mismatches and fetch.pagination.on_mismatch == "fail":
        raise PaginationError(
            "cannot vouch for the listing (paginate.on_mismatch: fail): "
            + "; ".join(fetch.tally.mismatches),
            task=prepared.name,
        )


def send_item(
    runner: _Runner, prepared: PreparedTask, outcome: Any, *, item_key_field: str, key: Any
) -> None:
    """One item of a for_each task: its file, or its pages' items, into ``outcome``
    (rows, pages, HTTP status, attempts); observers hear the first item's start."""
    runner.announce_start_once(prepared)
    if prepared.files_path is not None:
        record, status = _download(runner, prepared, outcome.attempts)
        outcome.rows = [{item_key_field: key, **record}]
        outcome.pages, outcome.http_status = 1, status
        return
    fetch = open_fetch(runner, prepared, whole_task=False)
    for page in fetch.pages:
        outcome.pages += 1
        outcome.http_status = page.status
        outcome.rows.extend(page.items)
        outcome.attempts.extend(a.to_dict() for a in page.attempts)
        runner.observe_page(prepared, page)


def _download(
    runner: _Runner, prepared: PreparedTask, attempts: list[Any]
) -> tuple[dict[str, Any], int]:
    """The task's response streamed into its ``output.files`` path: ``(record, status)``."""
    from task_runner.sinks.download import stream_to_file
    from task_runner.sinks.files import safe_path

    spec = runner.workflow.tasks[prepared.name].files
    assert spec is not None and prepared.files_path is not None
    tried: list[Any] = []
    try:
        return stream_to_file(
            runner.client(prepared.connection),
            prepared.request,
            safe_path(prepared.files_path, task=prepared.name),
            retry=prepared.retry,
            timeout=prepared.timeout,
            expect=prepared.expect,
            content_types=spec.content_types,
            max_bytes=spec.max_bytes,
            write=runner.options.publish,
            attempts=tried,
        )
    finally:
        attempts.extend(a.to_dict() for a in tried)


def _send_file(runner: _Runner, prepared: PreparedTask, result: TaskResult, outputs: Any) -> None:
    """A task (no for_each) whose one response is a file."""
    try:
        attempts: list[Any] = []
        try:
            record, status = _download(runner, prepared, attempts)
        finally:
            result.attempts.extend(attempts)
        result.pages, result.item_count, result.http_status = 1, 1, status
        if outputs:
            outputs.write_all([record])
        outputs.commit()
    except BaseException:
        outputs.abort()
        raise
    jsonl = runner.jsonl_written(prepared.name, outputs, prepared)
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
    from task_runner.sinks.outputs import record_sinks

    record_sinks(result, outputs, files=[record])


def implied_expect(workflow: Workflow, prepared: PreparedTask, pagination: Pagination) -> Expect:
    """The task's expectations plus the body its operation promises: a paginated
    task, or a list operation (one that takes the page parameters), answers a list."""
    expect = prepared.expect
    if expect.items != "any":
        return expect
    operation = workflow.operations.get(workflow.tasks[prepared.name].operation or "")
    names = {p.name for p in (operation.parameters if operation else ())}
    if pagination.enabled or {pagination.page_param, pagination.per_page_param} <= names:
        return replace(expect, items="list")
    return expect


def capped_pagination(pagination: Pagination, cap: int | None) -> Pagination:
    """``pagination`` capped at ``cap`` pages (``options.max_pages``, test-request
    ``--pages``); unchanged when ``cap`` is None."""
    if cap is None:
        return pagination
    return replace(
        pagination,
        mode="pages" if pagination.enabled else "none",
        max_pages=min(cap, pagination.max_pages or cap),
    )


def check_expectations(workflow: Workflow, prepared: PreparedTask, result: TaskResult) -> None:
    """Every ``expect`` check on the task's output; all failures in one ChecksFailed."""
    from task_runner.recording.schema import response_schema_path
    from task_runner.runner.checks import enforce

    stored = None
    if prepared.expect.schema == "stored":
        stored = response_schema_path(workflow, prepared.name)
    enforce(
        prepared.expect,
        result.response,
        task=prepared.name,
        templates=workflow.templates,
        stored_schema=stored,
    )
