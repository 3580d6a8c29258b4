"""Execute workflows: the dependency graph, tasks, results."""

from __future__ import annotations

from task_runner.runner.executor import execute
from task_runner.runner.options import ExecutionOptions, TaskObserver
from task_runner.runner.result import RunResult, TaskResult

__all__ = ["ExecutionOptions", "RunResult", "TaskObserver", "TaskResult", "execute"]
