"""Limits set on a connection: the body cap its tasks inherit (a task may say otherwise)
and the token request's deadline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from task_runner.cli import main
from tests.httpserver import Reply, TestServer
from tests.runs_support import restore_logging

_logging = pytest.fixture(autouse=True)(restore_logging)

BIG = [{"id": n, "pad": "x" * 90} for n in range(50)]  # about 5 kB


def _write(tmp_path: Path, url: str, connection: str, task: str = "") -> Path:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        f"""\
name: capped
connections:
  api:
    base_url: "{url}"
{connection}tasks:
  t:
    connection: api
    request: {{method: GET, url: /x}}
{task}""",
        encoding="utf-8",
    )
    return wf


def _run(wf: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["run", str(wf), "--output", "json"])
    return code, json.loads(capsys.readouterr().out)["tasks"]["t"]


def test_the_connection_cap_applies_unless_the_task_chose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestServer(lambda req: Reply(200, BIG)) as server:
        code, task = _run(_write(tmp_path, server.url, "    max_body_bytes: 1000\n"), capsys)
        assert code == 1 and "max_body_bytes" in str(task["error"])
        wf = _write(
            tmp_path,
            server.url,
            "    max_body_bytes: 1000\n",
            "    expect: {max_body_bytes: 100000}\n",
        )
        code, task = _run(wf, capsys)
        assert code == 0 and task["item_count"] == 50


@pytest.mark.timeout(60)
def test_a_token_endpoint_that_hangs_ends_at_the_token_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CID", "client-id-canary")
    monkeypatch.setenv("CSECRET", "client-secret-canary")
    with TestServer() as server:
        server.route("/oauth/token", lambda req: Reply(200, {"access_token": "t"}, delay=120))
        server.route("/x", lambda req: Reply(200, []))
        auth = (
            "    auth: {type: oauth2_client_credentials, token_url: "
            f'"{server.url}/oauth/token", client_id: "{{{{ secrets.CID }}}}", '
            'client_secret: "{{ secrets.CSECRET }}", token_timeout: 1s}\n'
        )
        # Without the deadline this hangs for 2 x 120 s: the harness's timeout fails it.
        code, task = _run(_write(tmp_path, server.url, auth), capsys)
        tries = len(server.requests_to("/oauth/token"))
    assert code == 1 and "total timeout" in str(task["error"])
    assert tries == 2  # retried once, then the task fails
