"""One job: what ``test-request`` does with a run once the response is in.

* drift: compare with the previous recording of the task -- one line on stderr every
  time there is one (``3 fields changed since <time> (...)``), the whole report with
  ``--compare``, exit 1 with ``--fail-on-drift`` when anything drifted;
* ``--save-schema``: infer the items' JSON Schema and keep it as the task's response
  schema (:func:`~task_runner.recording.schema.response_schema_path`);
* ``--junit FILE``: the task's checks, evaluated as the run evaluated them, as JUnit XML.

Example::

    done = follow_up(workflow, outcome, store, compare=True, junit="report.xml")
    done.lines, done.notes, done.json, done.exit_code
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.recording.drift import Drift, diff_recordings, previous_recording

if TYPE_CHECKING:
    from task_runner.recording.session import TaskOutcome
    from task_runner.recording.store import RecordingStore
    from task_runner.runner.checks import CheckResult
    from task_runner.workflow.model import Workflow

__all__ = ["FollowUp", "check_results", "follow_up", "recorded_response"]


@dataclass
class FollowUp:
    """What to print (``lines`` on stdout, ``notes`` on stderr), what to add to the JSON
    output, and the exit code it asks for (0, or 1 for drift under ``--fail-on-drift``)."""

    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    json: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0


def follow_up(
    workflow: Workflow,
    outcome: TaskOutcome,
    store: RecordingStore,
    *,
    compare: bool = False,
    fail_on_drift: bool = False,
    save_schema: bool = False,
    junit: str | None = None,
) -> FollowUp:
    done = FollowUp()
    if outcome.recording is None:  # the task never started: nothing to compare or check
        return done
    _drift(workflow, outcome, store, done, compare=compare or fail_on_drift, fail=fail_on_drift)
    if save_schema:
        _save_schema(workflow, outcome, done)
    if junit:
        _junit(workflow, outcome, junit, done)
    return done


def _drift(
    workflow: Workflow,
    outcome: TaskOutcome,
    store: RecordingStore,
    done: FollowUp,
    *,
    compare: bool,
    fail: bool,
) -> None:
    assert outcome.recording is not None
    if outcome.result.status != "succeeded":
        # a failed test says nothing about the API's shape: no drift, neither way
        if compare:
            done.notes.append(f"{outcome.task}: not compared: the task did not succeed")
        return
    paths = store.paths(workflow.name, outcome.task)
    earlier = previous_recording(paths, outcome.recording_path)
    if earlier is None:
        if compare:
            done.notes.append(f"{outcome.task}: no earlier recording to compare with")
        return
    try:
        before = store.load(earlier)
    except Exception as exc:  # an unreadable old file must not spoil this run
        done.notes.append(f"{outcome.task}: cannot compare with {earlier}: {exc}")
        return
    now = str(outcome.recording_path) if outcome.recording_path else "(this run)"
    drift = diff_recordings(before, outcome.recording, before_path=str(earlier), after_path=now)
    if compare:
        done.lines.extend(["", f"# compared with the previous recording of {outcome.task}"])
        done.lines.extend(drift.lines())
        done.json["drift"] = drift.to_json()
    else:
        done.notes.append(_drift_note(outcome.task, drift, earlier, outcome.recording_path))
    if fail and drift.drifted:
        done.exit_code = 1
        done.json["exit_code"] = max(outcome.exit_code, 1)


def _drift_note(task: str, drift: Drift, earlier: Path, current: Path | None) -> str:
    note = f"{task}: {drift.summary()}"
    if drift.drifted:
        note += f"; details: task-runner recordings diff {earlier}" + (
            f" {current}" if current else ""
        )
    return note


def _save_schema(workflow: Workflow, outcome: TaskOutcome, done: FollowUp) -> None:
    from task_runner.recording.drift import diff_schemas
    from task_runner.recording.schema import (
        infer_schema,
        load_response_schema,
        recorded_items,
        response_schema_path,
        save_response_schema,
    )

    assert outcome.recording is not None
    items = recorded_items(outcome.recording)
    refused = any(not r.get("accepted", True) for r in outcome.recording.get("responses") or ())
    if refused or not items:  # a failed check is no reason not to save: the pages are fine
        why = "the status was refused" if refused else "no items came back"
        done.notes.append(f"{outcome.task}: response schema not saved: {why}")
        return
    path = response_schema_path(workflow, outcome.task)
    what = outcome.recording.get("operation") or f"{workflow.name}.{outcome.task}"
    schema = infer_schema(
        items,
        description=f"Items of {what}, inferred from recorded responses "
        "(task-runner test-request --save-schema); edit freely.",
    )
    old = load_response_schema(path)
    save_response_schema(path, schema)
    changed = ""
    if old is not None:
        count = len(diff_schemas(old, schema))
        changed = (
            f" ({count} field change(s) from the one it replaces)" if count else " (unchanged)"
        )
    done.notes.append(f"{outcome.task}: response schema saved to {path}{changed}")
    done.json["response_schema"] = str(path)


def check_results(workflow: Workflow, outcome: TaskOutcome) -> list[CheckResult]:
    """The task's checks on its recording, evaluated as the run evaluated them."""
    from task_runner.recording.schema import response_schema_path
    from task_runner.runner.checks import evaluate

    assert outcome.recording is not None
    task = workflow.task(outcome.task)
    items_at = str((outcome.recording.get("pagination") or {}).get("items") or "")
    expect = replace(task.expect, items_at=items_at)
    stored = response_schema_path(workflow, outcome.task) if expect.schema == "stored" else None
    return evaluate(
        expect,
        recorded_response(outcome.recording),
        templates=workflow.templates,
        stored_schema=stored,
    )


def _junit(workflow: Workflow, outcome: TaskOutcome, target: str, done: FollowUp) -> None:
    from task_runner.recording.junit import write_junit

    assert outcome.recording is not None
    results = check_results(workflow, outcome)
    path = write_junit(
        target,
        f"{workflow.name}.{outcome.task}",
        results,
        elapsed=outcome.result.elapsed,
        timestamp=str(outcome.recording.get("recorded_at", "")),
    )
    failed = sum(1 for r in results if r.passed is False)
    done.notes.append(f"junit: {path} ({len(results)} check(s), {failed} failed)")
    done.json["junit"] = str(path)
    done.json["checks"] = [r.to_json() for r in results]


def recorded_response(recording: Mapping[str, Any]) -> dict[str, Any] | None:
    """The task output a recording shows (a refused response too), to check it again;
    None when no response came at all."""
    from task_runner.http.response import extract_items
    from task_runner.runner.result import task_output

    responses = [r for r in recording.get("responses") or () if isinstance(r, Mapping)]
    if not responses:
        return None
    accepted = [r for r in responses if r.get("accepted", True)]
    if len(accepted) < len(responses):
        refused = responses[-1]
        return task_output(
            status=refused.get("status"),
            headers=refused.get("headers") or {},
            first_body=refused.get("body"),
            pages=1,
            items=[],
            item_count=0,
            jsonl=None,
        )
    items_at = str((recording.get("pagination") or {}).get("items") or "")
    items = [item for page in accepted for item in extract_items(page.get("body"), items_at)]
    count = (recording.get("result") or {}).get("item_count")
    return task_output(
        status=accepted[-1].get("status"),
        headers=accepted[0].get("headers") or {},
        first_body=accepted[0].get("body"),
        pages=len(accepted),
        items=items,
        item_count=count if isinstance(count, int) else len(items),
        jsonl=None,
    )
