"""``test-request`` on a write asks before sending: without ``--yes`` and without a
terminal it refuses (exit 2) and nothing reaches the server; a write is never retried
unless the task opts in."""

from __future__ import annotations

from pathlib import Path

import pytest

from task_runner.cli import main
from tests.httpserver import Reply, TestServer
from tests.runs_support import restore_logging

_logging = pytest.fixture(autouse=True)(restore_logging)

WORKFLOW = """\
name: writes
connections:
  api: {{base_url: "{url}"}}
tasks:
  make:
    connection: api
    request: {{method: {method}, url: /things, body: {{name: x}}}}
"""


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_is_not_sent_without_yes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    with TestServer(lambda req: Reply(201, {"id": 1})) as server:
        wf = tmp_path / "wf.yaml"
        wf.write_text(WORKFLOW.format(url=server.url, method=method))
        code = main(["test-request", str(wf), "-t", "make", "--no-record"])
        captured = capsys.readouterr()
        assert server.requests == []
        assert code == 2 and f"sends {method}" in captured.err and "--yes" in captured.err
        code = main(["test-request", str(wf), "-t", "make", "--no-record", "--yes"])
        capsys.readouterr()
        assert code == 0 and [r.method for r in server.requests] == [method]


def test_a_write_is_not_retried_unless_the_task_opts_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestServer(lambda req: Reply(503, "busy", {"Retry-After": "0"})) as server:
        wf = tmp_path / "wf.yaml"
        wf.write_text(WORKFLOW.format(url=server.url, method="POST"))
        code = main(["run", str(wf), "--output", "json"])
        capsys.readouterr()
        assert code == 1 and len(server.requests) == 1
