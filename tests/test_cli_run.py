"""``task-runner run`` and ``runs``: the JSON contract external schedulers rely on, exit
codes, and the history the command records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from task_runner.cli import main
from tests.runs_support import (
    WINDOW_FILTER,
    images_task,
    restore_logging,
    workflow_data,
    write_workflow,
)

MISSING_PROJECT = 999_999

_logging = pytest.fixture(autouse=True)(restore_logging)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    captured = capsys.readouterr()
    try:
        return code, json.loads(captured.out)
    except json.JSONDecodeError:
        return code, captured.out


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    task = images_task(**{"filters[updated_at]": WINDOW_FILTER})
    task["output"] = {"jsonl": str(tmp_path / "out" / "{{ run.id }}.jsonl")}
    return write_workflow(tmp_path / "wf.yaml", workflow_data("cli-run", {"list_images": task}))


def test_run_output_json_is_the_documented_contract(
    tmp_path: Path, workflow: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    code, data = _cli(
        capsys, "run", str(workflow), "--emulator", "--output", "json", "--state-dir", state
    )
    assert code == 0
    assert {"run_id", "workflow", "status", "tasks"} <= set(data)
    assert (data["workflow"], data["status"], data["trigger"]) == ("cli-run", "succeeded", "manual")
    task = data["tasks"]["list_images"]
    assert {"status", "http_status", "attempts", "pages", "item_count", "output"} <= set(task)
    assert (task["status"], task["http_status"], task["attempts"], task["pages"]) == (
        "succeeded",
        200,
        1,
        1,
    )
    assert Path(task["output"]).exists()
    # The history has it, and runs list/show say the same.
    code, runs = _cli(capsys, "runs", "list", "--output", "json", "--state-dir", state)
    assert code == 0
    assert [(r["id"], r["status"]) for r in runs] == [(data["run_id"], "succeeded")]
    assert {"id", "workflow", "status", "started_at", "finished_at"} <= set(runs[0])
    code, shown = _cli(
        capsys, "runs", "show", data["run_id"], "--output", "json", "--state-dir", state
    )
    assert code == 0
    assert shown["tasks"][0]["task"] == "list_images"
    assert shown["tasks"][0]["output"] == task["output"]
    code, text = _cli(capsys, "runs", "show", data["run_id"], "--state-dir", state)
    assert code == 0 and "list_images: succeeded" in text


def test_the_next_run_starts_where_the_last_success_ended(
    tmp_path: Path, workflow: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    argv = ("run", str(workflow), "--emulator", "--output", "json", "--state-dir", state)
    _, first = _cli(capsys, *argv)
    _, second = _cli(capsys, *argv)
    assert second["window_start"] == first["window_end"]


def test_a_failed_task_exits_1_and_names_the_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = {"broken": images_task(MISSING_PROJECT), "after": images_task(depends_on=["broken"])}
    path = write_workflow(tmp_path / "bad.yaml", workflow_data("cli-bad", tasks))
    state = str(tmp_path / "state")
    code, data = _cli(
        capsys, "run", str(path), "--emulator", "--output", "json", "--state-dir", state
    )
    assert code == 1
    assert data["status"] == "failed"
    assert "'broken'" in data["error"]
    assert data["tasks"]["after"]["status"] == "skipped"
    code, text = _cli(capsys, "run", str(path), "--emulator", "--state-dir", state)
    assert code == 1
    assert "broken" in text and "failed" in text
    _, runs = _cli(capsys, "runs", "list", "--output", "json", "--state-dir", state)
    assert [r["status"] for r in runs] == ["failed", "failed"]


def test_an_input_mistake_exits_2_sends_nothing_and_is_recorded_as_failed(
    tmp_path: Path, workflow: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    code, data = _cli(
        capsys,
        "run",
        str(workflow),
        "--emulator",
        "--input",
        "project_id=abc",
        "--output",
        "json",
        "--state-dir",
        state,
    )
    assert code == 2
    assert data["status"] == "error"
    _, runs = _cli(capsys, "runs", "list", "--output", "json", "--state-dir", state)
    assert [r["status"] for r in runs] == ["failed"]
    assert "project_id" in runs[0]["error"]


def test_runs_list_on_an_empty_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, runs = _cli(capsys, "runs", "list", "--output", "json", "--state-dir", str(tmp_path))
    assert (code, runs) == (0, [])
    code, _ = _cli(capsys, "runs", "show", "nope", "--state-dir", str(tmp_path))
    assert code == 2
