"""One job: test-run one task of a workflow (or preview it) and record what happened.

Upstream tasks (those whose output the task reads) are taken from their latest
successful recording made with the same inputs, the same operation and against the same
place: the connection's base URL, or the built-in emulator (whose ids mean nothing to a
real API, and a real API's nothing to it). Only the ones without such a recording run
first, in full, and are recorded too; ``notify`` is told which recording was used and
why another was not. Then the task itself runs, at most ``max_pages`` pages, and its
recording is written (and returned) whatever the outcome: a refused status is exactly
what the user wants to look at.

A test run never publishes output where scheduled runs put theirs: the items of a task
with ``output.jsonl`` go beside its recording (``<stamp>.jsonl`` next to
``<stamp>.json``), or nowhere when nothing is recorded.

Example::

    outcome = run_task_once(workflow, "fetch_photos", {"company_id": 8089, "project_id": 777},
                        store=RecordingStore("recordings"), notify=print)
    outcome.exit_code, outcome.recording_path, outcome.output
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import InputError, InputErrors, Interrupted, RunError, TemplateError
from task_runner.http.clock import CancellableClock, SystemClock
from task_runner.model import ConnectionConfig
from task_runner.recording.recorder import Recorder, preset_output
from task_runner.recording.store import RecordingStore
from task_runner.redact import REDACTOR
from task_runner.runner.executor import ExecutionOptions, execute
from task_runner.runner.result import TaskResult
from task_runner.workflow.model import Workflow
from task_runner.workflow.prepare import PreparedTask, Preparer, RunContext, resolve_inputs
from task_runner.workflow.templating import PlaceholderSecrets

if TYPE_CHECKING:
    from task_runner.http.exchange import SentRequest

__all__ = [
    "Target",
    "TaskOutcome",
    "Upstream",
    "find_upstream_recordings",
    "preview_request",
    "run_task_once",
]

#: How many recent recordings of an upstream task are searched for a match.
SEARCH_DEPTH = 25


@dataclass
class TaskOutcome:
    """What ``run_task_once`` did: the task's result and recording, and where upstream came from.

    ``output``: the JSONL the run wrote (beside the recording); ``task_output``: the
    task's own ``output.jsonl``, which a test run leaves to scheduled runs.
    """

    task: str
    result: TaskResult
    recording: dict[str, Any] | None
    recording_path: Path | None
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)
    output: str | None = None
    task_output: str | None = None

    @property
    def exit_code(self) -> int:
        if self.result.status == "succeeded":
            return 0
        return self.result.exit_code or 1


@dataclass(frozen=True)
class Target:
    """Where a task's requests go: what a recording must have been made against to stand
    in for the task (its ids, cursors and URLs mean something only there)."""

    operation: str | None
    base_url: str
    emulated: bool

    @classmethod
    def of_recording(cls, data: Mapping[str, Any]) -> Target | None:
        if "base_url" not in data:  # format 1: it never said where it was made
            return None
        return cls(data.get("operation"), _url(data["base_url"]), bool(data.get("emulated")))

    def serves(self, other: Target | None) -> bool:
        """Whether a recording made against ``other`` may stand in for this target."""
        if other is None or other.operation != self.operation:
            return False
        if self.emulated or other.emulated:
            return self.emulated and other.emulated  # any run of the emulator: same data
        return other.base_url == self.base_url

    def __str__(self) -> str:
        where = "the emulator" if self.emulated else self.base_url
        return f"{self.operation or 'a raw request'} at {where}"


def _url(value: Any) -> str:
    return REDACTOR.redact(str(value or "")).rstrip("/")


@dataclass
class Upstream:
    """Where the outputs a task reads come from: recordings (``preset``, ``sources``),
    or tasks that must run first (``needed``, in order); ``notes`` say why, per task."""

    preset: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    needed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _comparable(value: Any) -> Any:
    """Inputs as a recording holds them (redacted, through JSON)."""
    return json.loads(json.dumps(REDACTOR.redact_obj(value), default=str))


def task_targets(
    workflow: Workflow,
    preparer: Preparer,
    names: list[str],
    *,
    emulated: bool = False,
) -> dict[str, Target | None]:
    """Each task's :class:`Target`: its operation and its rendered connection's base URL,
    or its URL's origin when it has no connection (``None`` when that does not render
    yet, e.g. a raw URL built from another task's output: no recording can vouch)."""
    targets: dict[str, Target | None] = {}
    for name in names:
        task = workflow.tasks[name]
        try:
            if task.connection:
                base_url = preparer.connection(task.connection).base_url
            else:
                base_url = preparer.prepare(name).connection.base_url
        except (InputError, InputErrors):
            targets[name] = None
            continue
        targets[name] = Target(task.operation, _url(base_url), emulated)
    return targets


def find_upstream_recordings(
    workflow: Workflow,
    task: str,
    inputs: Mapping[str, Any],
    store: RecordingStore,
    targets: Mapping[str, Target | None],
) -> Upstream:
    """Walk back from ``task``: an upstream task with a usable recording stops the walk
    (its own upstream is not needed); one without must run, and so may its upstream."""
    wanted = _comparable(dict(inputs))
    found = Upstream()
    needed: set[str] = set()
    stack = sorted(workflow.tasks[task].dependencies)
    while stack:
        name = stack.pop()
        if name in found.preset or name in needed or name not in workflow.tasks:
            continue
        match, note = _matching_recording(store, workflow.name, name, wanted, targets.get(name))
        if note:
            found.notes.append(f"{name}: {note}")
        if match is not None:
            found.sources[name], found.preset[name] = match
        else:
            needed.add(name)
            stack.extend(sorted(workflow.tasks[name].dependencies))
    found.needed = [n for n in workflow.order() if n in needed]
    return found


def _matching_recording(
    store: RecordingStore, workflow: str, task: str, inputs: Any, target: Target | None
) -> tuple[tuple[Path, dict[str, Any]] | None, str | None]:
    """``((path, output) or None, what to tell the user)``."""
    passed_over: str | None = None
    for depth, path in enumerate(store.iter_latest_first(workflow, task)):
        if depth >= SEARCH_DEPTH:
            break
        try:
            data = store.load(path)
        except Exception:  # an unreadable file is skipped, not fatal
            continue
        if data.get("inputs") != inputs:
            continue
        made = Target.of_recording(data)
        output = preset_output(data)
        if target is None or not target.serves(made) or output is None:
            passed_over = passed_over or _why_not(path, made, target, output is None)
            continue
        if target.emulated and made is not None and made.base_url != target.base_url:
            # another emulator instance: its URLs (API and file host) name a gone port
            output = rebase_emulated(output, made.base_url, target.base_url)
        return (path, output), (
            f"output taken from its recording {path} (same inputs, same {made})"
        )
    return None, passed_over


_LOOPBACK_ORIGIN = re.compile(r"^(https?://(?:127\.0\.0\.1|localhost|\[::1\])):(\d+)(?=[/?#]|$)")


def rebase_emulated(output: Any, old_base: str, new_base: str) -> Any:
    """``output`` (a recording's task output) with every URL of the emulator that made it
    pointed at the emulator of this run: a loopback origin (``127.0.0.1``, ``localhost``)
    on the old emulator's port gets the new port. The emulator serves its API and its
    file host on one port (:class:`task_runner.emulator.files.FileHost`), so that is
    every URL it handed out."""
    old_port, new_port = _port_of(old_base), _port_of(new_base)
    if old_port is None or new_port is None or old_port == new_port:
        return output

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            found = _LOOPBACK_ORIGIN.match(value)
            if found is not None and found[2] == old_port:
                return f"{found[1]}:{new_port}{value[found.end() :]}"
            return value
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    return fix(output)


def _port_of(base_url: str) -> str | None:
    found = _LOOPBACK_ORIGIN.match(base_url)
    return found[2] if found is not None else None


def _why_not(path: Path, made: Target | None, target: Target | None, failed: bool) -> str:
    if failed:
        return f"not using {path}: that run did not succeed"
    if made is None:
        return f"not using {path}: it does not say where it was made (an older recording)"
    if target is None:
        return f"not using {path}: where this run sends is known only once it runs"
    return f"not using {path}: it was made for {made}, and this run sends {target}"


def run_task_once(
    workflow: Workflow,
    task: str,
    inputs: Mapping[str, Any],
    *,
    store: RecordingStore,
    record: bool = True,
    max_pages: int | None = 1,
    max_items: int | None = 1,
    connection_overrides: Mapping[str, ConnectionConfig] | None = None,
    environ: Mapping[str, str] | None = None,
    emulated: bool = False,
    notify: Callable[[str], None] = lambda _: None,
    cancel: threading.Event | None = None,
) -> TaskOutcome:
    """Run ``task`` (and what it needs); raise InputErrors before sending anything.

    ``emulated``: ``connection_overrides`` point at the built-in emulator.
    ``max_items``: a ``for_each`` task runs only its first items (None: all).
    ``cancel``: set from another thread, it stops the run: a wait in progress (retry
    backoff, ``Retry-After``, a rate-limit pause) ends at once, no further request or page
    is sent, and the task's result is ``interrupted`` (its recording is still written);
    a response being read finishes first, bounded by the task's ``timeout``. A run
    cancelled while upstream tasks run raises :class:`~task_runner.errors.Interrupted`.
    """
    workflow.task(task)  # an unknown task is an input error, before anything runs
    values = resolve_inputs(workflow, inputs)
    run = RunContext.now(
        workflow.name, lookback=workflow.window.initial_lookback, lag=workflow.window.lag
    )
    overrides = dict(connection_overrides or {})
    upstream_of = _upstream(workflow, task, values, run, store, overrides, environ, emulated)
    for note in upstream_of.notes:
        notify(note)
    preset, needed = dict(upstream_of.preset), upstream_of.needed
    upstream: dict[str, dict[str, Any]] = {
        name: {"source": "recording", "recording": str(source)}
        for name, source in upstream_of.sources.items()
    }
    recorder = Recorder(CancellableClock(SystemClock(), cancel) if cancel is not None else None)
    outputs = _Outputs(store, workflow.name, record)

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
            jsonl_path=outputs.jsonl_path,
            # a for_each task runs its first items only; databases and files are not
            # written where scheduled runs publish
            max_items=max_items,
            publish=False,
            cancel=cancel,
        )

    def write(name: str, upstream: Mapping[str, Any]) -> tuple[dict[str, Any] | None, Path | None]:
        recording = recorder.recording(
            name, workflow=workflow, run=run, inputs=values, upstream=upstream, emulated=emulated
        )
        if recording is None or not record:
            return recording, None
        return recording, store.write(recording, path=outputs.paths.get(name))

    if needed:
        notify(f"running first (no usable recording with these inputs): {', '.join(needed)}")
        first = execute(workflow, values, run=run, options=options(needed, None))
        for name in needed:
            outcome = first.tasks.get(name)
            _, written = write(name, {})
            upstream[name] = {"source": "ran", "recording": str(written) if written else None}
            if written is not None:
                notify(f"{name}: recorded {written}")
            if cancel is not None and cancel.is_set():
                raise Interrupted(f"cancelled while running {name!r}; {task!r} was not sent")
            if outcome is None or outcome.status != "succeeded" or outcome.response is None:
                error = outcome.error if outcome else "did not run"
                raise RunError(f"upstream task {name!r} failed, so {task!r} was not sent: {error}")
            preset[name] = outcome.response
    result = execute(workflow, values, run=run, options=options([task], max_pages))
    task_result = result.tasks[task]
    recording, path = write(task, upstream)
    if path is not None:
        task_result.recording = str(path)
    return TaskOutcome(
        task,
        task_result,
        recording,
        path,
        upstream,
        output=task_result.output,
        task_output=outputs.configured.get(task),
    )


class _Outputs:
    """Where a test run's JSONL goes: beside the task's recording, or nowhere."""

    def __init__(self, store: RecordingStore, workflow: str, record: bool) -> None:
        self.store, self.workflow, self.record = store, workflow, record
        self.paths: dict[str, Path] = {}  # recording paths, chosen before the run
        self.configured: dict[str, str] = {}  # each task's own output.jsonl

    def jsonl_path(self, prepared: PreparedTask) -> str | None:
        if not prepared.output_jsonl:
            return None
        self.configured[prepared.name] = prepared.output_jsonl
        if not self.record:
            return None
        path = self.paths.setdefault(
            prepared.name, self.store.new_path(self.workflow, prepared.name)
        )
        return str(path.with_suffix(".jsonl"))


def _upstream(
    workflow: Workflow,
    task: str,
    values: Mapping[str, Any],
    run: RunContext,
    store: RecordingStore,
    overrides: Mapping[str, ConnectionConfig],
    environ: Mapping[str, str] | None,
    emulated: bool,
) -> Upstream:
    """The task's upstream outputs, from recordings made against where this run sends."""
    if not workflow.tasks[task].dependencies:
        return Upstream()
    preparer = Preparer(
        workflow,
        values,
        run,
        environ=environ,
        secrets=PlaceholderSecrets(environ),
        connection_overrides=overrides,
    )
    targets = task_targets(workflow, preparer, workflow.upstream(task), emulated=emulated)
    return find_upstream_recordings(workflow, task, values, store, targets)


def preview_request(
    workflow: Workflow,
    task: str,
    inputs: Mapping[str, Any],
    *,
    store: RecordingStore,
    connection_overrides: Mapping[str, ConnectionConfig] | None = None,
    environ: Mapping[str, str] | None = None,
    emulated: bool = False,
    notify: Callable[[str], None] = lambda _: None,
) -> SentRequest:
    """The first request ``run_task_once`` would send for ``task``, exactly as it would go
    on the wire, sending nothing (no token request either: OAuth shows ``Bearer ***``).

    Upstream outputs come from the recordings ``run_task_once`` would use; without one,
    a :class:`TemplateError` says which task to test first.
    """
    from task_runner.http.client import Client

    workflow.task(task)
    values = resolve_inputs(workflow, inputs)
    run = RunContext.now(
        workflow.name, lookback=workflow.window.initial_lookback, lag=workflow.window.lag
    )
    overrides = dict(connection_overrides or {})
    upstream = _upstream(workflow, task, values, run, store, overrides, environ, emulated)
    for note in upstream.notes:
        notify(note)
    if upstream.needed:
        first = upstream.needed[0]
        raise TemplateError(
            f"task {task!r} reads tasks.{first}.output and no recording of {first} can stand "
            f"in for it; a dry run sends nothing, so run `task-runner test-request "
            f"{workflow.path} --task {first}` first to record it",
            location=workflow.tasks[task].location,
            task=task,
        )
    preparer = Preparer(
        workflow,
        values,
        run,
        environ=environ,
        secrets=PlaceholderSecrets(environ),
        connection_overrides=overrides,
    )
    for name, output in upstream.preset.items():
        preparer.set_output(name, output)
    if not preparer.should_run(task):
        notify(f"{task}: its `when` is false with these outputs, so a run would skip it")
    prepared = preparer.prepare(task)
    with Client(prepared.connection) as client:
        return client.preview(prepared.request, prepared.pagination)
