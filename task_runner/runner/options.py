"""What :func:`~task_runner.runner.executor.execute` is told: :class:`ExecutionOptions`
(which tasks, how many at once, overrides, caps) and the :class:`TaskObserver` hooks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from task_runner.model import ConnectionConfig
from task_runner.runner.result import TaskResult
from task_runner.workflow.prepare import PreparedTask

__all__ = ["ExecutionOptions", "TaskObserver"]


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
