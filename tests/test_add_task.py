"""add-task: scaffolds a task that validates, keeps the file's comments, refuses duplicates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from task_runner.catalogue import Catalogue
from task_runner.catalogue.catalogue import ParameterDef
from task_runner.cli import main
from task_runner.scaffold import connection_block, input_name, task_name

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "examples" / "workflows" / "procore_images.yaml"


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TASK_RUNNER_DEFINITIONS", "PROCORE_BASE_URL", "PROCORE_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["validate", str(path), "--output", "json"])
    assert code == 0, capsys.readouterr()
    assert json.loads(capsys.readouterr().out) == []


def test_creates_a_file_that_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flows" / "site_photos.yaml"
    path.parent.mkdir()
    assert main(["add-task", str(path), "--operation", "procore.images.list"]) == 0
    out = capsys.readouterr().out
    assert "task list_images" in out and "test-request" in out
    text = path.read_text()
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    schema = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert schema == ROOT / "schemas" / "workflow.schema.json"
    data = yaml.safe_load(text)
    assert data["name"] == "site-photos"
    assert data["inputs"]["company_id"]["type"] == "integer"
    assert data["inputs"]["project_id"]["type"] == "integer"
    task = data["tasks"]["list_images"]
    assert task == {
        "operation": "procore.images.list",
        "connection": "procore",
        "params": {
            "Procore-Company-Id": "{{ inputs.company_id }}",
            "project_id": "{{ inputs.project_id }}",
        },
    }
    assert '"{{ inputs.project_id }}"' in text
    # optional parameters are comments, with their type
    assert "# sort:   # string, one of deleted_at|taken_at" in text
    assert "# filters[starred]:   # boolean, default false, in query" in text
    _validate(path, capsys)


def test_the_new_connection_is_the_examples_procore_block(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    assert main(["add-task", str(path), "-o", "procore.images.list"]) == 0
    made = yaml.safe_load(path.read_text())["connections"]["procore"]
    example = yaml.safe_load(IMAGES.read_text())["connections"]["procore"]
    assert made == example


def test_keeps_existing_content_and_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    shutil.copy(IMAGES, path)
    original = path.read_text() + "  # a comment the user wrote at the end\n"
    path.write_text(original)
    code = main(["add-task", str(path), "-o", "procore.images.list", "--name", "more_photos"])
    assert code == 0
    text = path.read_text()
    assert text.startswith(original)  # every byte the user had, unchanged
    data = yaml.safe_load(text)
    assert list(data["tasks"]) == ["list_images", "more_photos"]
    assert list(data["connections"]) == ["procore"]  # reused, not duplicated
    assert list(data["inputs"]) == ["company_id", "project_id"]  # reused
    _validate(path, capsys)


def test_a_file_without_inputs_or_connections_gets_them_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        "# my photos\nname: mine  # keep me\ndescription: hand-written\ntasks:\n"
        "  # the first task will go here\n"
    )
    assert main(["add-task", str(path), "-o", "procore.images.list"]) == 0
    text = path.read_text()
    assert "# my photos" in text and "# keep me" in text and "# the first task" in text
    assert text.splitlines()[0].startswith("# yaml-language-server: $schema=")
    assert list(yaml.safe_load(text)) == ["name", "description", "inputs", "connections", "tasks"]
    _validate(path, capsys)


def test_refuses_a_task_name_that_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    shutil.copy(IMAGES, path)
    before = path.read_text()
    assert main(["add-task", str(path), "-o", "procore.images.list"]) == 2
    assert "already has a task 'list_images'" in capsys.readouterr().err
    assert path.read_text() == before


def test_unknown_operation_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["add-task", str(tmp_path / "wf.yaml"), "-o", "procore.image.list"]) == 2
    assert "procore.images.list" in capsys.readouterr().err  # suggested
    assert not (tmp_path / "wf.yaml").exists()


def test_named_connection_is_used_or_created(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    assert (
        main(["add-task", str(path), "-o", "procore.images.list", "--connection", "sandbox"]) == 0
    )
    data = yaml.safe_load(path.read_text())
    assert data["tasks"]["list_images"]["connection"] == "sandbox"
    assert data["connections"]["sandbox"]["api"] == "procore"


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wf.yaml"
    assert main(["add-task", str(path), "-o", "procore.images.list", "--output", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["created_file"] and payload["created_connection"]
    assert payload["new_inputs"] == {"company_id": "integer", "project_id": "integer"}
    assert payload["placeholders"] == {
        "Procore-Company-Id": "company_id",
        "project_id": "project_id",
    }


def test_the_scaffolded_task_runs_against_the_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README walkthrough: add-task, fill two inputs, test-request.
    path = tmp_path / "photos.yaml"
    assert main(["add-task", str(path), "-o", "procore.images.list"]) == 0
    inputs = ["-i", "company_id=8089", "-i", "project_id=777", "--har", "photos.har"]
    code = main(["test-request", str(path), "--task", "list_images", "--emulator", *inputs])
    out = capsys.readouterr().out
    assert code == 0
    assert '"filename": "IMG_' in out and "recorded: recordings/photos/list_images/" in out
    assert (tmp_path / "photos.har").is_file()


def _param(name: str, location: str) -> ParameterDef:
    return ParameterDef(name=name, location=location, required=True, schema={"type": "integer"})


def test_input_and_task_names() -> None:
    assert input_name(_param("Procore-Company-Id", "header"), "procore") == "company_id"
    assert input_name(_param("project_id", "query"), "procore") == "project_id"
    assert input_name(_param("filters[log_date]", "query"), "procore") == "filters_log_date"
    assert input_name(_param("X-Request-Id", "header"), "procore") == "x_request_id"
    assert task_name("procore.images.list") == "list_images"
    assert task_name("ping") == "ping"


def test_connection_block_without_a_profile_uses_a_bearer_token() -> None:
    block = yaml.safe_load(connection_block("acme", None))
    assert block == {
        "api": "acme",
        "base_url": "{{ env.ACME_BASE_URL }}",
        "auth": {"type": "bearer", "token": "{{ secrets.ACME_TOKEN }}"},
    }
    profile = Catalogue.load().profile("procore")
    assert "default('https://api.procore.com')" in connection_block("procore", profile)


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("name: CI\non:\n  push: {}\njobs:\n  build:\n    runs-on: ubuntu-latest\n", "on", 2),
        ("# compose\nservices:\n  web:\n    image: nginx\n", "services", 2),
        ("name: x\ntasks: {}\n  \nsteps: []\n", "steps", 4),
    ],
)
def test_refuses_a_yaml_file_that_is_not_a_workflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, line: int
) -> None:
    path = tmp_path / "ci.yml"
    path.write_text(text)
    code = main(["add-task", str(path), "--operation", "procore.images.list"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}:1:" in err and f"'{key}'" in err and "not a task-runner workflow" in err
    assert "Traceback" not in err
    assert path.read_text() == text  # nothing written


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "name: x\n"])
def test_adds_to_an_empty_or_workflow_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    assert main(["add-task", str(path), "--operation", "procore.images.list"]) == 0
    _validate(path, capsys)
