"""Every example workflow validates, and its dry run renders the request it would send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from task_runner.cli import main
from task_runner.workflow import load_workflow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "workflows"
FILES = sorted(EXAMPLES.glob("*.yaml"))
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]
SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/workflow.schema.json"
# Inputs a Procore example needs beyond the two every Procore example takes.
EXTRA_INPUTS = {"procore_trade_photos.yaml": ["-i", "trade_ids=[101, 102]"]}
# The inputs of the examples of other APIs (added from an OpenAPI document alone).
OWN_INPUTS = {"tickets_updated.yaml": ["-i", "project=OPS"]}
PROCORE_FILES = [p for p in FILES if p.name not in OWN_INPUTS]
# Tasks that read another task's output cannot be dry-run on their own.
READS_UPSTREAM = {
    ("procore_trade_photos.yaml", "fetch_photos"): "find_trade_photos",
    ("procore_photos_to_duckdb.yaml", "download_photos"): "list_photos",
}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TASK_RUNNER_DEFINITIONS", "PROCORE_BASE_URL", "PROCORE_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("TICKETS_BASE_URL", "TICKETS_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def _inputs(path: Path) -> list[str]:
    """The ``-i`` options an example needs."""
    return OWN_INPUTS.get(path.name) or [*INPUTS, *EXTRA_INPUTS.get(path.name, [])]


def _tasks() -> list[tuple[Path, str]]:
    return [(path, name) for path in FILES for name in load_workflow(path).tasks]


def test_the_examples_are_there() -> None:
    assert {p.name for p in FILES} >= {
        "procore_images.yaml",
        "procore_images_all.yaml",
        "procore_trade_photos.yaml",
        "tickets_updated.yaml",
    }


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["validate", str(path), "--output", "json", *_inputs(path)]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_carries_the_editor_schema_line(path: Path) -> None:
    assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_LINE
    assert (path.parent / "../../schemas/workflow.schema.json").resolve().is_file()


@pytest.mark.parametrize("path", PROCORE_FILES, ids=lambda p: p.name)
def test_example_takes_company_and_project_inputs(path: Path) -> None:
    workflow = load_workflow(path)
    assert {"company_id", "project_id"} <= set(workflow.inputs)
    for connection in workflow.connections.values():
        data = connection.data
        assert "env.PROCORE_BASE_URL" in data["base_url"]
        assert "env.PROCORE_TOKEN_URL" in data["auth"]["token_url"]
        assert "secrets.PROCORE_CLIENT_ID" in data["auth"]["client_id"]
        assert "secrets.PROCORE_CLIENT_SECRET" in data["auth"]["client_secret"]


@pytest.mark.parametrize("path_task", _tasks(), ids=lambda t: f"{t[0].name}:{t[1]}")
def test_example_dry_run_renders(
    path_task: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, task = path_task
    args = ["test-request", str(path), "--task", task, "--dry-run", "--output", "json"]
    code = main([*args, *_inputs(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    upstream = READS_UPSTREAM.get((path.name, task))
    if upstream is not None:
        assert code == 2
        assert f"reads tasks.{upstream}.output" in captured.err
        assert f"--task {upstream}` first" in captured.err
        return
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    request = payload["request"]
    assert payload["dry_run"] is True and payload["task"] == task
    assert request["method"] == "GET"
    assert payload["curl"].startswith("curl ")
    if path.name in OWN_INPUTS:
        return  # test_the_tickets_example_* below
    assert request["url"].startswith("https://api.procore.com/rest/v1.0/images?project_id=777")
    assert request["headers"]["Procore-Company-Id"] == "8089"
    assert request["headers"]["Authorization"] == "Bearer ***"
    assert "'Authorization: Bearer ***'" in payload["curl"]


def test_daily_photos_dry_run_uses_the_window(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "procore_images.yaml"
    args = ["test-request", str(path), "--task", "list_images", "--dry-run", "--output", "json"]
    assert main([*args, *INPUTS]) == 0
    query = dict(json.loads(capsys.readouterr().out)["request"]["query"])
    start, _, end = query["filters[updated_at]"].partition("...")
    assert start.endswith("Z") and end.endswith("Z") and start < end
    assert query["sort"] == "-created_at"
    assert query["per_page"] == "100"


def test_trade_photos_dry_run_sends_bracketed_trade_ids(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "procore_trade_photos.yaml"
    args = [
        "test-request",
        str(path),
        "--task",
        "find_trade_photos",
        "--dry-run",
        "--output",
        "json",
    ]
    assert main([*args, *INPUTS, "-i", "trade_ids=[31, 32]"]) == 0
    payload = json.loads(capsys.readouterr().out)
    query = payload["request"]["query"]
    assert ["filters[trade_ids][]", "31"] in query and ["filters[trade_ids][]", "32"] in query
    assert ["filters[starred]", "true"] in query
    assert "filters%5Btrade_ids%5D%5B%5D=31&filters%5Btrade_ids%5D%5B%5D=32" in payload["curl"]


def test_the_trade_photos_graph(capsys: pytest.CaptureFixture[str]) -> None:
    workflow = load_workflow(EXAMPLES / "procore_trade_photos.yaml")
    assert workflow.order() == ["find_trade_photos", "fetch_photos"]
    assert "find_trade_photos" in workflow.upstream("fetch_photos")


def test_trade_photos_without_trade_ids_is_an_input_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = EXAMPLES / "procore_trade_photos.yaml"
    assert main(["validate", str(path), "--output", "json", *INPUTS]) == 2
    [error] = json.loads(capsys.readouterr().out)
    assert "input 'trade_ids' is required" in error["message"]
    assert error["line"] == 9


def test_the_tickets_example_reads_its_host_and_key_from_env_and_secrets() -> None:
    workflow = load_workflow(EXAMPLES / "tickets_updated.yaml")
    [connection] = workflow.connections.values()
    data = connection.data
    assert data["api"] == "tickets"
    assert "env.TICKETS_BASE_URL" in data["base_url"]
    assert data["auth"] == {"type": "api_key", "key": "{{ secrets.TICKETS_API_KEY }}"}


def test_the_tickets_example_dry_run_uses_the_window(capsys: pytest.CaptureFixture[str]) -> None:
    path = EXAMPLES / "tickets_updated.yaml"
    args = ["test-request", str(path), "--task", "list_tickets", "--dry-run", "--output", "json"]
    assert main([*args, "-i", "project=OPS"]) == 0
    request = json.loads(capsys.readouterr().out)["request"]
    assert request["url"].startswith("https://api.tickets.example/v1/projects/OPS/tickets?")
    query = dict(request["query"])
    assert query["since"].endswith("Z") and "T" in query["since"]
    assert (query["state"], query["sort"], query["per_page"]) == ("all", "updated", "100")
