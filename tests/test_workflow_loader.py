"""load_workflow: a valid file becomes a Workflow with its tasks, policies, schedule and graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from task_runner.catalogue import Catalogue
from task_runner.errors import InputErrors, SourceLocation
from task_runner.workflow import load_workflow

CATALOGUE = Catalogue.load()

WORKFLOW = """\
name: wf
description: two tasks
schedule: {every: 30m, timezone: Europe/Berlin, jitter: 10s}
window: {initial_lookback: 2d, overlap: 5m, max_span: 7d}
inputs:
  company_id: {type: integer, default: 8089}
defaults:
  retry: {max_attempts: 7}
  timeout: 20s
connections:
  procore:
    api: procore
    base_url: https://api.example.com
    auth: {type: bearer, token: "{{ secrets.TOKEN }}"}
tasks:
  first:
    operation: procore.images.list
    connection: procore
    params: {Procore-Company-Id: "{{ inputs.company_id }}", project_id: 1}
    paginate: {pages: 3, max_concurrency: 2}
    expect: {status: [200, 204]}
    output: {jsonl: out.jsonl}
  second:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: 1
      project_id: 1
      filters[id][]: "{{ tasks.first.output.items }}"
    retry: {max_attempts: 2, initial_interval: 500ms}
    paginate: all
  third:
    request: {method: GET, url: "https://other.example/x"}
    depends_on: second
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "wf.yaml"
    file.write_text(WORKFLOW)
    return file


def test_a_valid_workflow(path: Path) -> None:
    workflow = load_workflow(path, catalogue=CATALOGUE)
    assert workflow.name == "wf" and workflow.description == "two tasks"
    assert list(workflow.tasks) == ["first", "second", "third"]
    assert workflow.order() == ["first", "second", "third"]
    assert "first" in workflow.upstream("second")
    assert workflow.task("first").location == SourceLocation(str(path), 16, 3)
    assert workflow.inputs["company_id"].has_default


def test_policies_and_defaults(path: Path) -> None:
    workflow = load_workflow(path, catalogue=CATALOGUE)
    first, second = workflow.task("first"), workflow.task("second")
    assert first.retry.max_attempts == 7  # from defaults
    assert second.retry.max_attempts == 2 and second.retry.initial_interval == 0.5
    assert first.timeout.read == 20.0
    assert (first.pagination.mode, first.pagination.max_pages) == ("pages", 3)
    assert first.pagination.max_concurrency == 2
    assert second.pagination.mode == "all"
    assert first.expect.status == frozenset({200, 204})
    assert first.output_jsonl == "out.jsonl"
    assert workflow.task("third").depends_on == ("second",)


def test_schedule_and_window(path: Path) -> None:
    workflow = load_workflow(path, catalogue=CATALOGUE)
    assert workflow.schedule is not None
    assert (workflow.schedule.every, workflow.schedule.timezone) == (1800.0, "Europe/Berlin")
    assert workflow.schedule.jitter == 10.0
    assert workflow.window.initial_lookback == 2 * 86400
    assert workflow.window.overlap == 300 and workflow.window.max_span == 7 * 86400


def test_task_references_are_dependencies(path: Path) -> None:
    workflow = load_workflow(path, catalogue=CATALOGUE)
    assert workflow.task("second").references == frozenset({"first"})
    assert workflow.task("first").references == frozenset()


def test_anchors_share_settings(tmp_path: Path) -> None:
    text = WORKFLOW.replace(
        "    paginate: {pages: 3, max_concurrency: 2}", "    paginate: &p {pages: 3}"
    ).replace("    paginate: all", "    paginate: *p")
    file = tmp_path / "wf.yaml"
    file.write_text(text)
    workflow = load_workflow(file, catalogue=CATALOGUE)
    assert workflow.task("second").pagination.max_pages == 3


def test_errors_come_all_at_once_sorted(tmp_path: Path) -> None:
    text = WORKFLOW.replace("project_id: 1}", "project_id: x}").replace(
        "depends_on: second", "depends_on: nope"
    )
    file = tmp_path / "wf.yaml"
    file.write_text(text)
    with pytest.raises(InputErrors) as info:
        load_workflow(file, catalogue=CATALOGUE)
    found = [(e.location.line if e.location else 0, e.path) for e in info.value.errors]
    assert found == [(19, "first.params.project_id"), (34, "third.depends_on")]
    assert info.value.exit_code == 2


def test_an_unreadable_definition_is_reported_as_such_not_as_unknown(
    path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "defs" / "procore"
    broken.mkdir(parents=True)
    (broken / "procore.images.list.json").write_text("{not json")
    with pytest.raises(InputErrors) as info:
        load_workflow(path, catalogue=Catalogue.load([str(tmp_path / "defs")]))
    errors = [e for e in info.value.errors if e.path == "first.operation"]
    assert len(errors) == 1
    assert "unknown operation" not in errors[0].message
    assert "procore.images.list.json: cannot read this definition" in errors[0].message
    assert (
        errors[0].location is not None and errors[0].location.line == 17
    )  # `operation:` of task first
