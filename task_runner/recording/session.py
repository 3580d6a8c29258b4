"""One job: test-run one task of a workflow and record what happened.

Upstream tasks (those whose output the task reads) are taken from their latest
successful recording made with the same inputs; only the ones without such a recording
run first, in full, and are recorded too. Then the task itself runs, at most
``max_pages`` pages, and its recording is written (and returned) whatever the outcome:
a refused status is exactly what the user wants to look at.

Example::

    outcome = run_task_once(workflow, "fetch_photos", {"company_id": 8089, "project_id": 777},
                        store=RecordingStore("recordings"), notify=print)
    outcome.exit_code, outcome.recording_path
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from task_runner.errors import RunError
from task_runner.model import ConnectionConfig
from task_runner.recording.recorder import Recorder, preset_output
from task_runner.recording.store import RecordingStore
from task_runner.redact import REDACTOR
from task_runner.runner.executor import ExecutionOptions, execute
from task_runner.runner.result import TaskResult
from task_runner.workflow.model import Workflow
from task_runner.workflow.prepare import RunContext, resolve_inputs

__all__ = ["TaskOutcome", "find_upstream_recordings", "run_task_once"]

#: How many recent recordings of an upstream task are searched for matching inputs.
SEARCH_DEPTH = 25


@dataclass
class TaskOutcome:
    """What ``run_task_once`` did: the task's result and recording, and where upstream came from."""

    task: str
    result: TaskResult
    recording: dict[str, Any] | None
    recording_path: Path | None
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.result.status == "succeeded":
            return 0
        return self.result.exit_code or 1


def _comparable(value: Any) -> Any:
    """Inputs as a recording holds them (redacted, through JSON)."""
    return json.loads(json.dumps(REDACTOR.redact_obj(value), default=str))


def find_upstream_recordings(
    workflow: Workflow,
    task: str,
    inputs: Mapping[str, Any],
    store: RecordingStore,
) -> tuple[dict[str, dict[str, Any]], dict[str, Path], list[str]]:
    """``(preset outputs, their recording paths, tasks that must run first)``.

    Walks back from ``task``: an upstream task with a usable recording stops the walk
    (its own upstream is not needed); one without must run, and so may its upstream.
    """
    wanted = _comparable(dict(inputs))
    preset: dict[str, dict[str, Any]] = {}
    sources: dict[str, Path] = {}
    needed: set[str] = set()
    stack = sorted(workflow.tasks[task].dependencies)
    while stack:
        name = stack.pop()
        if name in preset or name in needed or name not in workflow.tasks:
            continue
        found = _matching_recording(store, workflow.name, name, wanted)
        if found is not None:
            path, output = found
            preset[name], sources[name] = output, path
        else:
            needed.add(name)
            stack.extend(sorted(workflow.tasks[name].dependencies))
    order = [n for n in workflow.order() if n in needed]
    return preset, sources, order


def _matching_recording(
    store: RecordingStore, workflow: str, task: str, inputs: Any
) -> tuple[Path, dict[str, Any]] | None:
    for depth, path in enumerate(store.iter_latest_first(workflow, task)):
        if depth >= SEARCH_DEPTH:
            break
        try:
            data = store.load(path)
        except Exception:  # an unreadable file is skipped, not fatal
            continue
        if data.get("inputs") != inputs:
            continue
        output = preset_output(data)
        if output is not None:
            return path, output
    return None


def run_task_once(
    workflow: Workflow,
    task: str,
    inputs: Mapping[str, Any],
    *,
    store: RecordingStore,
    record: bool = True,
    max_pages: int | None = 1,
    connection_overrides: Mapping[str, ConnectionConfig] | None = None,
    environ: Mapping[str, str] | None = None,
    notify: Callable[[str], None] = lambda _: None,
) -> TaskOutcome:
    """Run ``task`` (and what it needs); raise InputErrors before sending anything."""
    workflow.task(task)  # an unknown task is an input error, before anything runs
    values = resolve_inputs(workflow, inputs)
    run = RunContext.now(
        workflow.name, lookback=workflow.window.initial_lookback, lag=workflow.window.lag
    )
    preset, sources, needed = find_upstream_recordings(workflow, task, values, store)
    upstream: dict[str, dict[str, Any]] = {}
    for name, source in sources.items():
        notify(f"{name}: output taken from its recording {source}")
        upstream[name] = {"source": "recording", "recording": str(source)}
    recorder = Recorder()
    overrides = dict(connection_overrides or {})

    def options(tasks: list[str], pages: int | None) -> ExecutionOptions:
        return ExecutionOptions(
            tasks=tasks,
            max_workers=1,
            connection_overrides=overrides,
            preset_outputs=dict(preset),
            client_factory=recorder.client_factory,
            observers=[recorder],
            max_pages=pages,
            environ=environ,
        )

    if needed:
        notify(f"running first (no recording with these inputs): {', '.join(needed)}")
        first = execute(workflow, values, run=run, options=options(needed, None))
        for name in needed:
            outcome = first.tasks.get(name)
            written = _write(store, recorder, name, workflow, run, values, {}, record)
            upstream[name] = {"source": "ran", "recording": str(written) if written else None}
            if written is not None:
                notify(f"{name}: recorded {written}")
            if outcome is None or outcome.status != "succeeded" or outcome.response is None:
                error = outcome.error if outcome else "did not run"
                raise RunError(f"upstream task {name!r} failed, so {task!r} was not sent: {error}")
            preset[name] = outcome.response
    result = execute(workflow, values, run=run, options=options([task], max_pages))
    task_result = result.tasks[task]
    recording = recorder.recording(
        task, workflow=workflow, run=run, inputs=values, upstream=upstream
    )
    path: Path | None = None
    if recording is not None and record:
        path = store.write(recording)
        task_result.recording = str(path)
    return TaskOutcome(task, task_result, recording, path, upstream)


def _write(
    store: RecordingStore,
    recorder: Recorder,
    task: str,
    workflow: Workflow,
    run: RunContext,
    inputs: Mapping[str, Any],
    upstream: Mapping[str, Any],
    record: bool,
) -> Path | None:
    recording = recorder.recording(
        task, workflow=workflow, run=run, inputs=inputs, upstream=upstream
    )
    if recording is None or not record:
        return None
    return store.write(recording)
