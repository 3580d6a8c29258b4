"""`when:` conditions: a task runs only when its condition is true; skipping is no failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from task_runner.cli import main
from task_runner.emulator import Emulator
from tests.support import emulator_connection_yaml, procore_connection_yaml

WORKFLOW = """\
name: guarded
inputs:
  trade_ids: {{type: array, items: {{type: integer}}}}
  enabled: {{type: boolean, default: true}}
{connections}tasks:
  find:
    when: "{{{{ inputs.enabled }}}}"
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: 8089
      project_id: 777
      filters[trade_ids][]: "{{{{ inputs.trade_ids }}}}"
      serializer_view: ids_only
  fetch:
    when: "{{{{ tasks.find.output.item_count > 0 }}}}"
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: 8089
      project_id: 777
      filters[id][]: "{{{{ tasks.find.output.items }}}}"
  after_fetch:
    depends_on: [fetch]
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: 8089
      project_id: 777
      per_page: 1
"""


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    with Emulator() as em:
        yield em


def _run(
    tmp_path: Path, em: Emulator, capsys: pytest.CaptureFixture[str], *inputs: str
) -> tuple[int, dict]:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW.format(connections=emulator_connection_yaml(em)))
    args = ["run", str(path), "--output", "json"]
    for value in inputs:
        args += ["--input", value]
    code = main(args)
    return code, json.loads(capsys.readouterr().out)


def test_a_false_condition_skips_the_task_and_its_dependents_without_failing(
    tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _run(tmp_path, emulator, capsys, "trade_ids=[999]")
    assert code == 0 and result["status"] == "succeeded"
    tasks = result["tasks"]
    assert tasks["find"]["status"] == "succeeded" and tasks["find"]["item_count"] == 0
    assert tasks["fetch"]["status"] == "skipped" and tasks["fetch"]["skipped_by_condition"]
    assert tasks["after_fetch"]["status"] == "skipped"
    # nothing was asked for the skipped tasks: only find's request reached the server
    assert len([r for r in emulator.request_log if r.path == "/rest/v1.0/images"]) == 1


def test_a_true_condition_runs_the_task(
    tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _run(tmp_path, emulator, capsys, "trade_ids=[101, 102]")
    assert code == 0
    found = result["tasks"]["find"]["item_count"]
    assert found > 0
    assert result["tasks"]["fetch"]["status"] == "succeeded"
    assert result["tasks"]["fetch"]["item_count"] == found
    assert result["tasks"]["after_fetch"]["status"] == "succeeded"


def test_a_condition_on_an_input(
    tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _run(tmp_path, emulator, capsys, "trade_ids=[101]", "enabled=false")
    assert code == 0
    assert [t["status"] for t in result["tasks"].values()] == ["skipped", "skipped", "skipped"]
    assert not [r for r in emulator.request_log if r.path == "/rest/v1.0/images"]


def test_a_condition_naming_an_unknown_task_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        WORKFLOW.format(connections=procore_connection_yaml()).replace(
            "tasks.find.output.item_count", "tasks.fnd.output.item_count"
        )
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err  # errors on stderr, results on stdout
    assert "fetch.when: tasks.fnd is not a task of this workflow" in err
