"""One job: run a ``for_each`` task, once per item, a bounded number at once.

The items come from ``for_each.items``: a template that renders a list
(``{{ tasks.list_images.output.items }}``) or the path of a JSONL file
(``{{ tasks.list_images.output.jsonl }}``), read one line at a time so that 100,000
items never sit in memory. Each item renders the task's templates with ``item`` and
``index`` (from 0) and is sent through the connection's one client, so all items share
its rate budget; at most ``concurrency`` are in flight (default and cap: the
connection's ``max_concurrency``, the size of its connection pool).

Results are collected in item order (a bounded window of finished items waits for the
slowest before it), written to the task's sinks, and are the task's output.

Failure policy: ``fail_fast`` (default) sends no new item after the first failure;
``continue`` runs every item and fails the task listing every failed item;
``max_failures: N`` runs every item and fails the task only when more than N failed
(the failed ones are listed as warnings). Failed items are listed grouped by their
error, each error said once; a retry is suggested only when one could help (a transport
fault or an HTTP status, not a template mistake or a refused file path) and only in the
command's own terms (``run --run-id ID``; test-request keeps no checkpoint).

Resuming: each finished item is appended to a checkpoint under the state folder
(``<state>/fanout/<run id>/<task>.jsonl``, keyed by the item's ``for_each.key`` field,
default ``id``, or its content). Running the same run id again (``run --run-id``) skips
those items and reuses their results; the checkpoint goes when the run succeeds.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import Interrupted, RunError, TaskRunnerError, task_context
from task_runner.redact import REDACTOR
from task_runner.runner.send import send_item
from task_runner.sinks.files import FilesTally

if TYPE_CHECKING:
    from task_runner.runner.executor import _Runner
    from task_runner.runner.result import TaskResult

__all__ = [
    "Checkpoint",
    "FanOutError",
    "checked_lines",
    "failure_listing",
    "item_key",
    "iter_items",
    "run_fanout",
]

#: Finished items waiting for a slower, earlier one, per slot of concurrency.
WINDOW_PER_SLOT = 4


class FanOutError(RunError):
    """Items of a ``for_each`` task failed (beyond what its failure policy allows)."""


def iter_items(source: Any, *, task: str) -> Iterator[Any]:
    """The items of a rendered ``for_each``: a list's elements, or a JSONL file's lines."""
    if isinstance(source, (list, tuple)):
        yield from source
        return
    if isinstance(source, (str, os.PathLike)) and str(source).strip():
        yield from _jsonl_items(Path(str(source).strip()), task)
        return
    kind = "nothing" if source is None else type(source).__name__
    raise FanOutError(
        f"for_each of task {task!r} gave {kind}, not a list or a JSONL file path",
        task=task,
        hint="write {{ tasks.NAME.output.items }} or {{ tasks.NAME.output.jsonl }}",
    )


def _jsonl_items(path: Path, task: str) -> Iterator[Any]:
    try:
        stream = open(path, encoding="utf-8")  # noqa: SIM115 (a generator owns it)
    except OSError as exc:
        raise FanOutError(
            f"for_each of task {task!r}: cannot read {path}: {exc.strerror}", task=task
        ) from None
    with stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise FanOutError(
                    f"for_each of task {task!r}: {path}:{number}: not JSON ({exc})", task=task
                ) from None


def item_key(item: Any, field_name: str) -> Any:
    """What identifies ``item`` across runs: its ``field_name`` value, else a digest of
    its content (canonical JSON)."""
    if isinstance(item, Mapping) and item.get(field_name) is not None:
        value = item[field_name]
        if isinstance(value, (str, int, float, bool)):
            return value
    if isinstance(item, (str, int, float, bool)):
        return item  # an id itself
    text = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class Checkpoint:
    """Finished items of one task of one run, appended as JSON lines (secrets masked).

    A line torn by a killed process is ignored when read back; that item runs again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._file: Any = None
        if path.is_file():
            with open(path, encoding="utf-8") as lines:
                for line in lines:
                    try:
                        record = json.loads(line)
                        self.done[_canonical(record["key"])] = record
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line

    def get(self, key: Any) -> dict[str, Any] | None:
        return self.done.get(_canonical(key))

    def add(self, key: Any, record: dict[str, Any]) -> None:
        line = json.dumps({"key": key, **record}, ensure_ascii=False, separators=(",", ":"))
        if REDACTOR.json_secret_offsets(line):
            masked = REDACTOR.redact_json_value({"key": key, **record})
            line = json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            # A complete line (its newline included) in one write; flushed to the OS,
            # which keeps it when the process is killed.
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _canonical(key: Any) -> str:
    return json.dumps(key, sort_keys=True)


def checkpoint_path(folder: str | os.PathLike[str], run_id: str, task: str) -> Path:
    """``<folder>/<run id>/<task>.jsonl`` (names made safe for a file system)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{task}")
    run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return Path(folder) / run / f"{safe}.jsonl"


@dataclass
class _Item:
    """One item's outcome: its rows (the task's records), or its error."""

    index: int
    key: Any
    rows: list[Any] = field(default_factory=list)
    pages: int = 0
    http_status: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    error: TaskRunnerError | None = None
    resumed: bool = False


@dataclass
class _Tally:
    total: int = 0
    done: int = 0
    resumed: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    not_run: int = 0
    #: test-request: each checked item's file ({index, key, status, content_type, size, sha256})
    checked: list[dict[str, Any]] = field(default_factory=list)

    def summary(self, limit: int | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "items": self.total,
            "done": self.done,
            "resumed": self.resumed,
            "failed": len(self.failed),
            "failed_items": self.failed,
        }
        if limit is not None:
            data["limit"] = limit
        if self.not_run:
            data["not_run"] = self.not_run
        if self.checked:
            data["checked"] = self.checked
        return data


def run_fanout(runner: _Runner, name: str, result: TaskResult) -> None:
    """Run ``name``'s items (see the module docstring); fill ``result``; raise
    :class:`FanOutError` when the failure policy fails the task."""
    _FanOut(runner, name, result).run()


class _FanOut:
    def __init__(self, runner: _Runner, name: str, result: TaskResult) -> None:
        self.runner = runner
        self.name = name
        self.result = result
        self.task = runner.workflow.tasks[name]
        assert self.task.for_each is not None
        self.spec = self.task.for_each
        self.options = runner.options
        self.stop = threading.Event()
        self.tally = _Tally()
        self.retryable = False  # a failed item that another try could mend
        self.files: FilesTally | None = FilesTally() if self.task.files is not None else None
        self.checkpoint: Checkpoint | None = None
        folder = self.options.checkpoint_dir
        if folder is not None:
            run_id = runner.preparer.run.id
            self.checkpoint = Checkpoint(checkpoint_path(folder, run_id, name))

    def concurrency(self) -> int:
        if self.task.connection is None:
            return max(1, self.spec.concurrency or 4)
        pool = self.runner.preparer.connection(self.task.connection).max_concurrency
        return max(1, min(self.spec.concurrency or pool, pool))

    def run(self) -> None:
        from task_runner.sinks.outputs import TaskOutputs, record_sinks

        source = self.runner.preparer.render_for_each(self.name)
        items = iter_items(source, task=self.name)
        outputs = TaskOutputs.open(
            jsonl=self.runner.jsonl_target(self.name),
            sinks=self.runner.sinks_of(self.name),
            context=self.runner.sink_context(self.name),
        )
        kept: list[Any] = []
        try:
            self._run(items, outputs, kept)
            self._judge()
            outputs.commit()
        except BaseException:
            outputs.abort()
            raise
        finally:
            if self.checkpoint is not None:
                self.checkpoint.close()
            self.result.fan_out = self.tally.summary(self.options.max_items)
        self.runner.finish_output(self.result, kept, outputs)
        record_sinks(self.result, outputs)
        if self.files is not None:
            self.result.sinks = {**(self.result.sinks or {}), "files": self.files.summary()}
            if self.result.response is not None:
                self.result.response["sinks"] = self.result.sinks

    def _run(self, items: Iterator[Any], outputs: Any, kept: list[Any]) -> None:
        slots = self.concurrency()
        window: collections.deque[tuple[int, Any, Future[_Item] | _Item]] = collections.deque()
        limit = self.options.max_items
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix=f"{self.name}-item") as pool:
            try:
                for index, item in enumerate(items):
                    if limit is not None and index >= limit:
                        self.tally.not_run += 1  # counted, so test-request can say "of M"
                        continue
                    if self.stop.is_set() or self.runner.cancel.is_set():
                        break
                    self.tally.total += 1
                    key = item_key(item, self.spec.key)
                    done = self.checkpoint.get(key) if self.checkpoint else None
                    if done is not None:
                        window.append((index, key, _resumed(index, key, done)))
                    else:
                        window.append((index, key, pool.submit(self._one, index, key, item)))
                    while window and (
                        len(window) >= slots * WINDOW_PER_SLOT or _ready(window[0][2])
                    ):
                        self._emit(window.popleft(), outputs, kept)
                while window:
                    self._emit(window.popleft(), outputs, kept)
            finally:
                self.stop.set()
                for _, _, pending in window:
                    if isinstance(pending, Future):
                        pending.cancel()
        if self.runner.cancel.is_set():
            raise Interrupted(
                f"interrupted after {self.tally.done} of the items of task {self.name!r}"
            )

    def _one(self, index: int, key: Any, item: Any) -> _Item:
        outcome = _Item(index, key)
        if self.stop.is_set() or self.runner.cancel.is_set():
            outcome.error = Interrupted("not started: the task stopped")
            return outcome
        try:
            with task_context(self.name, self.task.location):
                prepared = self.runner.preparer.prepare(
                    self.name, {"item": _labelled(item), "index": index}
                )
                send_item(self.runner, prepared, outcome, item_key_field=self.spec.key, key=key)
        except TaskRunnerError as exc:
            outcome.error = exc
            if self.spec.on_failure == "fail_fast":
                self.stop.set()
            return outcome
        if self.checkpoint is not None:
            self.checkpoint.add(
                key,
                {
                    "index": index,
                    "rows": outcome.rows,
                    "pages": outcome.pages,
                    "http_status": outcome.http_status,
                },
            )
        return outcome

    def _emit(
        self, entry: tuple[int, Any, Future[_Item] | _Item], outputs: Any, kept: list[Any]
    ) -> None:
        index, key, pending = entry
        if isinstance(pending, Future):
            if pending.cancelled():
                return
            outcome = pending.result()
        else:
            outcome = pending
        result = self.result
        result.attempts.extend(outcome.attempts)
        if outcome.error is not None:
            stopping = self.stop.is_set() or self.runner.cancel.is_set()
            if isinstance(outcome.error, Interrupted) and stopping:
                return  # never started: not a failure of its own
            self.tally.failed.append(
                {"index": index, "key": key, "error": REDACTOR.redact(outcome.error.message)}
            )
            self.retryable = self.retryable or _retryable(outcome.error)
            result.http_status = getattr(outcome.error, "status", None) or result.http_status
            return
        self.tally.done += 1
        self.tally.resumed += outcome.resumed
        if self.files is not None:
            for row in outcome.rows:
                self.files.add(row)
                if self.options.max_items is not None:  # test-request: say what it checked
                    self.tally.checked.append(_checked(index, key, outcome.http_status, row))
        result.pages += outcome.pages
        result.item_count += len(outcome.rows)
        result.http_status = outcome.http_status or result.http_status
        if outputs:
            outputs.write_all(outcome.rows)
        in_jsonl = bool(outputs) and "jsonl" in outputs.kinds
        if not in_jsonl and self.options.keep_items_in_memory:
            kept.extend(outcome.rows)

    def _judge(self) -> None:
        """Raise when the failure policy fails the task; else warn of tolerated failures."""
        failed = self.tally.failed
        if not failed:
            return
        allowed = self.spec.max_failures
        listing, more = failure_listing(failed)
        if allowed is not None and len(failed) <= allowed:
            self.result.warnings.append(
                f"{len(failed)} of {self.tally.total} item(s) failed (max_failures: {allowed}): "
                f"{listing}{more}"
            )
            return
        if self.spec.on_failure == "fail_fast":
            first = failed[0]
            raise FanOutError(
                f"item {first['index']} ({first['key']}) failed, so no further item was "
                f"started (for_each.on_failure: fail_fast): {first['error']}",
                task=self.name,
            )
        policy = (
            f"more than max_failures: {allowed}" if allowed is not None else "on_failure: continue"
        )
        raise FanOutError(
            f"{len(failed)} of {self.tally.total} item(s) failed ({policy}): {listing}{more}",
            task=self.name,
            hint=self._retry_hint(),
        )

    def _retry_hint(self) -> str | None:
        """What to do next, for the command that ran: ``run`` keeps a checkpoint, so the
        same run id retries only the failed items; test-request keeps none. Failures no
        retry mends (a file path or a check refused) get no retry hint at all."""
        if not self.retryable:
            return None
        if self.checkpoint is None:
            return "fix the cause and send the task again"
        run_id = self.runner.preparer.run.id
        return f"run again with --run-id {run_id} to retry only the failed items"


def failure_listing(failed: list[dict[str, Any]], shown: int = 5) -> tuple[str, str]:
    """``(listing, more)``: the failed items grouped by their error, each error said once
    (``items 0, 1, 2 and 6 more (40000241, ...): 'urll' is undefined``), the first
    ``shown`` errors; ``more`` says how many errors were left out."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for failure in failed:
        groups.setdefault(str(failure["error"]), []).append(failure)
    parts = []
    for error, group in list(groups.items())[:shown]:
        if len(group) == 1:
            which = f"item {group[0]['index']} ({group[0]['key']})"
        else:
            indexes = ", ".join(str(f["index"]) for f in group[:3])
            rest = f" and {len(group) - 3} more" if len(group) > 3 else ""
            keys = ", ".join(str(f["key"]) for f in group[:3]) + (", ..." if rest else "")
            which = f"{len(group)} items ({indexes}{rest}; {keys})"
        parts.append(f"{which}: {error}")
    left = len(groups) - shown
    return "; ".join(parts), (f" (and {left} other error(s))" if left > 0 else "")


def _checked(index: int, key: Any, status: int | None, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "index": index,
        "key": key,
        "status": status,
        "content_type": row.get("content_type"),
        "size": row.get("size"),
        "sha256": row.get("sha256"),
    }


def checked_lines(fan_out: Mapping[str, Any]) -> list[str]:
    """One line per file test-request checked: ``item 0 (40000241): 200 image/jpeg
    24337 bytes sha256 9f2c...`` (the whole digest: it is what a later run compares)."""
    return [
        f"item {c['index']} ({c['key']}): {c['status']} {c['content_type'] or '-'} "
        f"{c['size']} bytes sha256 {c['sha256']}"
        for c in fan_out.get("checked") or ()
    ]


def _labelled(item: Any) -> Any:
    """An object item as a ``Namespace`` labelled ``item``, so that a field it lacks is
    reported as ``item.urll is undefined`` (not a bare ``'urll' is undefined``)."""
    from task_runner.workflow.templating import Namespace

    return Namespace("item", item) if isinstance(item, Mapping) else item


def _retryable(error: TaskRunnerError) -> bool:
    """Whether another try may succeed: a transport fault or an HTTP status may pass; an
    input mistake, a refused file path or a failed check will not."""
    from task_runner.errors import ExpectationError, InputError, OutputError

    return not isinstance(error, (InputError, OutputError, ExpectationError))


def _ready(pending: Future[_Item] | _Item) -> bool:
    return not isinstance(pending, Future) or pending.done()


def _resumed(index: int, key: Any, record: Mapping[str, Any]) -> _Item:
    return _Item(
        index=index,
        key=key,
        rows=list(record.get("rows") or []),
        pages=int(record.get("pages") or 0),
        http_status=record.get("http_status"),
        resumed=True,
    )


def remove_checkpoints(folder: str | os.PathLike[str] | None, run_id: str) -> None:
    """Forget a run's checkpoints (it succeeded: nothing is left to resume)."""
    if folder is None:
        return
    import shutil

    target = checkpoint_path(folder, run_id, "x").parent
    if target.is_dir():
        shutil.rmtree(target, ignore_errors=True)
