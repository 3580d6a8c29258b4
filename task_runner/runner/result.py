"""What a run produced: per-task results and the run's summary (the JSON contract).

``RunResult.to_json()`` is what ``task-runner run --output json`` prints and what the
Celery task returns::

    {"run_id", "workflow", "status": "succeeded"|"failed"|"interrupted",
     "tasks": {NAME: {"status", "http_status", "attempts", "pages", "item_count",
                      "total_reported", "duplicates_dropped", "complete", "warnings",
                      "output", "sinks", ...}}}

``output`` is the task's JSONL file (null when it writes none); ``sinks`` what each of
its sinks wrote (``duckdb``: table and rows inserted/updated; ``files``: files written,
skipped, bytes and their paths; ``csv``/``parquet``: path and rows).

``complete`` is true when the task delivered every item the API promised exactly once
(see :mod:`task_runner.http.tally`); ``warnings`` say what the run could not vouch for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from task_runner.redact import REDACTOR

__all__ = ["OUTPUT_ATTRIBUTES", "RunResult", "TaskResult", "task_output"]

#: What ``tasks.<name>.output`` has (``for_each``: a fan-out task's counts; ``sinks``:
#: what each sink wrote). One list, read by the loader's checks and the run-time hint.
OUTPUT_ATTRIBUTES = (
    "status",
    "headers",
    "body",
    "items",
    "item_count",
    "pages",
    "jsonl",
    "for_each",
    "sinks",
)


def task_output(
    *,
    status: int | None,
    headers: Mapping[str, str],
    first_body: Any,
    pages: int,
    items: list[Any],
    item_count: int,
    jsonl: str | None,
) -> dict[str, Any]:
    """``tasks.<name>.output``, whether a task just ran or comes from its recording.

    One page: ``body`` is that page's body as it came. Several (or an empty one):
    ``body`` is the items, like ``items``.
    """
    return {
        "status": status,
        "headers": dict(headers),
        "body": first_body if pages == 1 and first_body is not None else items,
        "items": items,
        "item_count": item_count,
        "pages": pages,
        "jsonl": jsonl,
        "for_each": None,  # a fan-out task's counts (set by the fan-out)
        "sinks": {},  # what each sink wrote (set once they committed)
    }


@dataclass
class TaskResult:
    name: str
    status: str = "pending"  # succeeded | failed | skipped | interrupted
    skipped_by_condition: bool = False  # skipped by a `when:` (its own or upstream): no failure
    http_status: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    item_count: int = 0
    output: str | None = None  # the JSONL file, when the task has one
    elapsed: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    exit_code: int = 0
    recording: str | None = None
    response: dict[str, Any] | None = None  # {status, headers, body, items}: the task output
    # What the API promised against what was delivered (see task_runner.http.tally):
    total_reported: int | None = None  # the API's Total, when it sent one
    duplicates_dropped: int = 0
    already_delivered: int = 0  # dropped: an earlier, overlapping window delivered them
    complete: bool | None = None  # None: the task sent nothing (skipped, failed early)
    warnings: list[str] = field(default_factory=list)
    # Digests of what a windowed task delivered (kept in the history, never printed).
    delivered: set[str] = field(default_factory=set, repr=False)
    # A for_each task: {items, done, resumed, failed, failed_items[, limit, not_run]}
    fan_out: dict[str, Any] | None = None
    # What each sink wrote, once committed: {"duckdb": {path, table, write, rows,
    # inserted, updated}, "files": {written, skipped, checked, bytes, paths}, ...}
    sinks: dict[str, Any] | None = None

    def set_tally(self, summary: Mapping[str, Any]) -> None:
        """Take the counts of a :class:`~task_runner.http.tally.Tally` summary."""
        self.total_reported = summary.get("total_reported")
        self.duplicates_dropped = int(summary.get("duplicates_dropped") or 0)
        self.already_delivered = int(summary.get("already_delivered") or 0)
        self.complete = bool(summary.get("complete"))
        self.warnings = [str(w) for w in summary.get("warnings") or ()]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "http_status": self.http_status,
            "attempts": len(self.attempts),
            "pages": self.pages,
            "item_count": self.item_count,
            "total_reported": self.total_reported,
            "duplicates_dropped": self.duplicates_dropped,
            "already_delivered": self.already_delivered,
            "complete": self.complete,
            "warnings": self.warnings,
            "output": self.output,
            "elapsed": round(self.elapsed, 3),
            "error": self.error,
            "attempt_log": self.attempts,
        }
        if self.recording:
            data["recording"] = self.recording
        if self.skipped_by_condition:
            data["skipped_by_condition"] = True
        if self.fan_out is not None:
            data["for_each"] = self.fan_out
        if self.sinks:
            data["sinks"] = self.sinks
        return REDACTOR.redact_obj(data)  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> TaskResult:
        """The inverse of :meth:`to_json` (the response body is not kept)."""
        return cls(
            name=name,
            status=str(data.get("status", "pending")),
            http_status=data.get("http_status"),
            attempts=list(data.get("attempt_log") or []),
            pages=int(data.get("pages") or 0),
            item_count=int(data.get("item_count") or 0),
            output=data.get("output"),
            elapsed=float(data.get("elapsed") or 0.0),
            error=data.get("error"),
            recording=data.get("recording"),
            skipped_by_condition=bool(data.get("skipped_by_condition", False)),
            total_reported=data.get("total_reported"),
            duplicates_dropped=int(data.get("duplicates_dropped") or 0),
            already_delivered=int(data.get("already_delivered") or 0),
            complete=data.get("complete"),
            warnings=[str(w) for w in data.get("warnings") or ()],
            fan_out=data.get("for_each"),
            sinks=data.get("sinks"),
        )


@dataclass
class RunResult:
    run_id: str
    workflow: str
    status: str
    started_at: str
    finished_at: str
    tasks: dict[str, TaskResult]
    trigger: str = "manual"
    window_start: str | None = None
    window_end: str | None = None
    error: str | None = None

    @property
    def exit_code(self) -> int:
        if self.status == "succeeded":
            return 0
        if self.status == "interrupted":
            return 130
        return 1

    @property
    def item_count(self) -> int:
        """The items the run fetched, each counted once: a fan-out task's items are its
        upstream's items again (a file, a detail per item), so only tasks without
        ``for_each`` count; their own counts are in ``tasks``."""
        return sum(t.item_count for t in self.tasks.values() if t.fan_out is None)

    def to_json(self) -> dict[str, Any]:
        return REDACTOR.redact_obj(  # type: ignore[no-any-return]
            {
                "run_id": self.run_id,
                "workflow": self.workflow,
                "status": self.status,
                "trigger": self.trigger,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "window_start": self.window_start,
                "window_end": self.window_end,
                "error": self.error,
                "item_count": self.item_count,
                "tasks": {name: t.to_json() for name, t in self.tasks.items()},
            }
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        """Rebuild a result from :meth:`to_json` (a run recorded in the history)."""
        return cls(
            run_id=str(data["run_id"]),
            workflow=str(data["workflow"]),
            status=str(data["status"]),
            started_at=str(data.get("started_at") or ""),
            finished_at=str(data.get("finished_at") or ""),
            tasks={
                name: TaskResult.from_json(name, task)
                for name, task in (data.get("tasks") or {}).items()
            },
            trigger=str(data.get("trigger") or "manual"),
            window_start=data.get("window_start"),
            window_end=data.get("window_end"),
            error=data.get("error"),
        )
