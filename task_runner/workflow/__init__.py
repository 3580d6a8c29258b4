"""Workflow files: load (with locations), validate, render and build requests."""

from __future__ import annotations

from task_runner.workflow.loader import load_workflow
from task_runner.workflow.model import TaskSpec, Workflow
from task_runner.workflow.prepare import PreparedTask, Preparer, RunContext, resolve_inputs

__all__ = [
    "PreparedTask",
    "Preparer",
    "RunContext",
    "TaskSpec",
    "Workflow",
    "load_workflow",
    "resolve_inputs",
]
