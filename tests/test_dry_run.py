"""`test-request --dry-run`: the fully prepared request and a curl line; secrets masked; nothing sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from task_runner.cli import main
from tests.httpserver import Reply, TestServer

# A canary secret with characters that change under URL and base64 encoding.
WORKFLOW = """\
name: canary
inputs:
  company_id: {type: integer}
  project_id: {type: integer}
connections:
  procore:
    api: procore
    base_url: "{{ env.PROCORE_BASE_URL }}"
    headers:
      X-Client-Tag: "tag-{{ secrets.CANARY_HEADER }}"
    auth:
      type: oauth2_client_credentials
      token_url: "{{ env.PROCORE_TOKEN_URL }}"
      client_id: "{{ secrets.CANARY_ID }}"
      client_secret: "{{ secrets.CANARY_SECRET }}"
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      filters[query]: "{{ secrets.CANARY_QUERY }}"
  raw:
    connection: procore
    request:
      method: POST
      url: /rest/v1.0/echo
      headers: {X-Token: "{{ secrets.CANARY_QUERY }}"}
      body: {note: "{{ secrets.CANARY_HEADER }} and {{ inputs.project_id }}"}
"""
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(lambda req: Reply(200, {"access_token": "t", "expires_in": 3600})) as srv:
        yield srv


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch, server: TestServer) -> dict[str, str]:
    monkeypatch.delenv("TASK_RUNNER_DEFINITIONS", raising=False)
    monkeypatch.setenv("PROCORE_BASE_URL", server.url)
    monkeypatch.setenv("PROCORE_TOKEN_URL", server.url + "/oauth/token")
    values = {
        name: f"c4n/{name.lower()}+{uuid.uuid4().hex}=&?"
        for name in ("CANARY_HEADER", "CANARY_ID", "CANARY_SECRET", "CANARY_QUERY")
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW)
    return path


def _dry_run(path: Path, task: str, *extra: str) -> list[str]:
    return ["test-request", str(path), "--task", task, "--dry-run", *INPUTS, *extra]


def _assert_no_canary(text: str, canaries: dict[str, str]) -> None:
    from urllib.parse import quote, quote_plus

    for value in canaries.values():
        for form in (value, quote(value, safe=""), quote_plus(value), value.split("+")[1]):
            assert form not in text


@pytest.mark.parametrize("task", ["list_images", "raw"])
@pytest.mark.parametrize("output", ["text", "json"])
def test_dry_run_never_prints_a_secret(
    task: str,
    output: str,
    tmp_path: Path,
    canaries: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(_dry_run(_write(tmp_path), task, "--output", output))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    _assert_no_canary(captured.out + captured.err, canaries)
    assert "***" in captured.out


def test_dry_run_sends_nothing_not_even_a_token_request(
    tmp_path: Path, canaries: dict[str, str], server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path)
    for task in ("list_images", "raw"):
        assert main(_dry_run(path, task)) == 0
    capsys.readouterr()
    assert server.requests == []


def test_dry_run_text_shows_request_headers_and_curl(
    tmp_path: Path, canaries: dict[str, str], server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_dry_run(_write(tmp_path), "list_images")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        f"GET {server.url}/rest/v1.0/images?project_id=777&filters%5Bquery%5D="
    )
    assert "Procore-Company-Id: 8089" in lines
    assert "Authorization: Bearer ***" in lines
    assert "X-Client-Tag: tag-***" in lines
    assert lines[-2] == "# the same request with curl (secrets shown as ***):"
    assert lines[-1].startswith("curl --fail-with-body -sS --compressed -X GET ")
    assert "-H 'Authorization: Bearer ***'" in lines[-1]


def test_dry_run_json_shows_the_body(
    tmp_path: Path, canaries: dict[str, str], server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_dry_run(_write(tmp_path), "raw", "--output", "json")) == 0
    payload = json.loads(capsys.readouterr().out)
    request = payload["request"]
    assert request["method"] == "POST"
    assert request["url"] == f"{server.url}/rest/v1.0/echo"
    assert request["body"] == {"note": "*** and 777"}
    assert request["headers"]["X-Token"] == "***"
    assert "--data" in payload["curl"] and "Content-Type: application/json" in payload["curl"]


def test_dry_run_of_an_unknown_task(
    tmp_path: Path, canaries: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(_dry_run(_write(tmp_path), "nope"))
    err = capsys.readouterr().err
    assert code == 2
    assert "nope" in err and "Traceback" not in err


def test_dry_run_of_a_missing_input(
    tmp_path: Path, canaries: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["test-request", str(_write(tmp_path)), "--task", "raw", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert "input 'company_id' is required" in err
    assert "Traceback" not in err


def test_dry_run_of_a_wrong_input_type_names_the_template(
    tmp_path: Path, canaries: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW.replace("project_id: {type: integer}", "project_id: {type: string}"))
    args = ["test-request", str(path), "--task", "list_images", "--dry-run"]
    code = main([*args, "-i", "company_id=1", "-i", "project_id=abc"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:22:19: list_images.params.project_id: 'abc' is not an integer" in err
    assert "(from template '{{ inputs.project_id }}')" in err


def test_dry_run_of_a_task_reading_upstream_output(
    tmp_path: Path, canaries: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(
        WORKFLOW
        + """\
  second:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: 1
      project_id: 1
      filters[id][]: "{{ tasks.list_images.output.items }}"
"""
    )
    code = main(_dry_run(path, "second"))
    err = capsys.readouterr().err
    assert code == 2
    assert "task 'second' reads tasks.list_images.output" in err
    assert "--task list_images` first" in err
