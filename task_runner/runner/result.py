"""What a run produced: per-task results and the run's summary (the JSON contract).

``RunResult.to_json()`` is what ``task-runner run --output json`` prints and what the
Celery task returns::

    {"run_id", "workflow", "status": "succeeded"|"failed"|"interrupted",
     "tasks": {NAME: {"status", "http_status", "attempts", "pages", "item_count", "output", ...}}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from task_runner.redact import REDACTOR

__all__ = ["RunResult", "TaskResult"]


@dataclass
class TaskResult:
    name: str
    status: str = "pending"  # succeeded | failed | skipped | interrupted
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

    def to_json(self) -> dict[str, Any]:
        data = {
            "status": self.status,
            "http_status": self.http_status,
            "attempts": len(self.attempts),
            "pages": self.pages,
            "item_count": self.item_count,
            "output": self.output,
            "elapsed": round(self.elapsed, 3),
            "error": self.error,
            "attempt_log": self.attempts,
        }
        if self.recording:
            data["recording"] = self.recording
        return REDACTOR.redact_obj(data)  # type: ignore[no-any-return]


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
        return sum(t.item_count for t in self.tasks.values())

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
