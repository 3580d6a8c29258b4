"""Run a workflow file once: load, execute, summarise. What `run`, the scheduler and
Celery workers all call, the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from task_runner.runner.executor import ExecutionOptions, execute
from task_runner.runner.result import RunResult

__all__ = ["run_workflow_file"]


def run_workflow_file(
    path: str | Path,
    inputs: Mapping[str, Any],
    *,
    definitions: Sequence[str] = (),
    options: ExecutionOptions | None = None,
    emulator: bool = False,
) -> RunResult:
    from task_runner.runner.emulated import maybe_emulator
    from task_runner.workflow import load_workflow

    workflow = load_workflow(path, definitions=definitions)
    options = options or ExecutionOptions()
    with maybe_emulator(emulator, workflow) as overrides:
        if overrides:
            options.connection_overrides = {**overrides, **options.connection_overrides}
        return execute(workflow, inputs, options=options)
