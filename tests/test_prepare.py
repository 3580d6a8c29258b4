"""Preparer and resolve_inputs: inputs, connections and params rendered into a request."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from task_runner.catalogue import Catalogue
from task_runner.errors import InputError, InputErrors, SchemaValidationError, UsageError
from task_runner.redact import REDACTOR
from task_runner.workflow import Preparer, RunContext, load_workflow, resolve_inputs
from task_runner.workflow.model import Workflow

CATALOGUE = Catalogue.load()
WORKFLOW = """\
name: wf
inputs:
  company_id: {type: integer}
  project_id: {type: integer, default: 777}
  trade_ids: {type: array, items: {type: integer}, default: [31, 32]}
  since: {type: string, default: "2024-05-01"}
connections:
  procore:
    api: procore
    base_url: "{{ env.BASE | default('https://api.example.com') }}"
    auth: {type: bearer, token: "{{ secrets.TOKEN }}"}
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id | string }}"
      filters[trade_ids][]: "{{ inputs.trade_ids }}"
      filters[starred]: "{{ 'true' }}"
      filters[updated_at]: "{{ run.window_start | iso_range(run.window_end) }}"
      filters[log_date]: "{{ inputs.since }}"
    output: {jsonl: "out/{{ run.workflow }}/{{ run.id }}.jsonl"}
  then:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: 1
      filters[id][]: "{{ tasks.list_images.output.items }}"
"""
RUN = RunContext(
    id="r1",
    workflow="wf",
    started_at=dt.datetime(2024, 5, 2, tzinfo=dt.timezone.utc),
    window_start=dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc),
    window_end=dt.datetime(2024, 5, 2, tzinfo=dt.timezone.utc),
)


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW)
    return load_workflow(path, catalogue=CATALOGUE)


def test_inputs_get_defaults_and_coercion(workflow: Workflow) -> None:
    values = resolve_inputs(workflow, {"company_id": "8089"})
    assert values == {
        "company_id": 8089,
        "project_id": 777,
        "trade_ids": [31, 32],
        "since": "2024-05-01",
    }


def test_input_mistakes_are_reported_together(workflow: Workflow) -> None:
    with pytest.raises(InputErrors) as info:
        resolve_inputs(workflow, {"project_id": "abc", "nope": 1})
    messages = [e.message for e in info.value.errors]
    assert any("the workflow has no input 'nope'" in m for m in messages)
    assert any("input 'company_id' is required" in m for m in messages)
    assert any("input project_id: 'abc' is not of type 'integer'" in m for m in messages)


def test_a_single_missing_input(workflow: Workflow) -> None:
    with pytest.raises(UsageError, match="input 'company_id' is required"):
        resolve_inputs(workflow, {})


def test_prepare_renders_coerces_and_builds(workflow: Workflow) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    inputs = resolve_inputs(workflow, {"company_id": 8089})
    preparer = Preparer(workflow, inputs, RUN, environ={"TOKEN": token})
    prepared = preparer.prepare("list_images")
    assert prepared.params["project_id"] == 777  # "777" coerced to the integer schema
    assert prepared.params["filters[starred]"] is True
    assert prepared.request.headers["Procore-Company-Id"] == "8089"
    assert prepared.request.query == (
        ("project_id", "777"),
        ("filters[trade_ids][]", "31"),
        ("filters[trade_ids][]", "32"),
        ("filters[starred]", "true"),
        ("filters[updated_at]", "2024-05-01T00:00:00Z...2024-05-02T00:00:00Z"),
        ("filters[log_date]", "2024-05-01"),
    )
    assert prepared.request.url == "https://api.example.com/rest/v1.0/images"
    assert prepared.output_jsonl == "out/wf/r1.jsonl"
    assert prepared.connection.auth.token == token
    assert token in REDACTOR


def test_connections_are_rendered_once(workflow: Workflow) -> None:
    preparer = Preparer(workflow, {"company_id": 1}, RUN, environ={"TOKEN": "abcdefgh"})
    assert preparer.connection("procore") is preparer.connection("procore")


def test_env_changes_the_base_url(workflow: Workflow) -> None:
    inputs = resolve_inputs(workflow, {"company_id": 1})
    preparer = Preparer(
        workflow, inputs, RUN, environ={"TOKEN": "abcdefgh", "BASE": "http://127.0.0.1:9"}
    )
    assert preparer.prepare("list_images").request.url == "http://127.0.0.1:9/rest/v1.0/images"


def test_upstream_output_is_read(workflow: Workflow) -> None:
    inputs = resolve_inputs(workflow, {"company_id": 1})
    preparer = Preparer(workflow, inputs, RUN, environ={"TOKEN": "abcdefgh"})
    preparer.set_output("list_images", {"items": [5, 6]})
    query = preparer.prepare("then").request.query
    assert ("filters[id][]", "5") in query and ("filters[id][]", "6") in query


def test_upstream_output_missing_is_a_template_error(workflow: Workflow) -> None:
    preparer = Preparer(workflow, {"company_id": 1}, RUN, environ={"TOKEN": "abcdefgh"})
    with pytest.raises(InputError, match=r"tasks\.list_images is undefined"):
        preparer.prepare("then")


def test_a_rendered_value_of_the_wrong_type_names_the_template(workflow: Workflow) -> None:
    preparer = Preparer(
        workflow, {"company_id": "abc", "project_id": 1, "trade_ids": [], "since": "x"}, RUN,
        environ={"TOKEN": "abcdefgh"},
    )  # fmt: skip
    with pytest.raises(InputErrors) as info:
        preparer.prepare("list_images")
    by_path = {e.path: e for e in info.value.errors}
    company = by_path["list_images.params.Procore-Company-Id"]
    assert isinstance(company, SchemaValidationError)
    assert "'abc' is not an integer (from template '{{ inputs.company_id }}')" in company.message
    assert company.location is not None and company.location.line == 17
    assert "list_images.params.filters[log_date]" in by_path


def test_run_context_now() -> None:
    run = RunContext.now("wf", lookback=3600)
    assert run.window_end == run.started_at
    assert run.window_end is not None and run.window_start is not None
    assert run.window_end - run.window_start == dt.timedelta(hours=1)
    assert run.id != RunContext.now("wf").id


def test_allowed_hosts_reach_the_connection(tmp_path: Path) -> None:
    from task_runner.workflow import Preparer, RunContext, load_workflow

    path = tmp_path / "wf.yaml"
    path.write_text(
        "name: hosts\n"
        "connections:\n"
        "  api:\n"
        "    base_url: https://api.example.com\n"
        "    allowed_hosts: [Files.Example.com]\n"
        "tasks:\n"
        "  get:\n"
        "    connection: api\n"
        "    request: {url: /x}\n"
    )
    workflow = load_workflow(path)
    config = Preparer(workflow, {}, RunContext.now("hosts")).connection("api")
    assert config.allowed_hosts == frozenset({"files.example.com"})
