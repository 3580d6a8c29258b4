"""Auth kinds from the registry, on the wire against a loopback server: an API key in a
header or the query, HTTP basic; each credential redacted in every output and sent only
to the connection's origin."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from task_runner.cli import main
from tests.httpserver import Recorded, Reply, TestServer
from tests.runs_support import restore_logging

_logging = pytest.fixture(autouse=True)(restore_logging)

KEY = "key-canary-7f3a9c1e55"
PASSWORD = "pw-canary-91b2d4e6"

WORKFLOW = """\
name: keyed
connections:
  api:
    base_url: "{url}"
    auth: {auth}
    allowed_hosts: [localhost]
tasks:
  things:
    connection: api
    request: {{method: GET, url: /things}}
    paginate: {{pages: all, style: next_url, next_url: /next, items: /data}}
"""


def _run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server: TestServer, auth: str
) -> tuple[int, str]:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW.format(url=server.url, auth=auth), encoding="utf-8")
    code = main(["-v", "run", str(wf), "--output", "json"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _pages(port: str) -> object:
    def handler(req: Recorded) -> Reply:
        if req.path == "/things" and req.param("page") is None:
            return Reply(200, {"data": [{"id": 1}], "next": "/things?page=2"})
        if req.param("page") == "2":
            return Reply(200, {"data": [{"id": 2}], "next": f"http://localhost:{port}/other"})
        return Reply(200, {"data": [{"id": 3}], "next": None})

    return handler


@pytest.mark.parametrize("where", ["header", "query"])
def test_api_key_goes_where_the_scheme_says_and_nowhere_else(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    monkeypatch.setenv("API_KEY", KEY)
    with TestServer() as server:
        port = server.url.rsplit(":", 1)[1]
        handler = _pages(port)
        server.route("/things", handler)  # type: ignore[arg-type]
        server.route("/other", handler)  # type: ignore[arg-type]
        auth = f'{{type: api_key, key: "{{{{ secrets.API_KEY }}}}", in: {where}, name: X-Key}}'
        code, text = _run(tmp_path, capsys, server, auth)
        own = server.requests_to("/things")
        foreign = server.requests_to("/other")
    assert code == 0, text
    assert len(own) == 2 and len(foreign) == 1
    for req in own:
        if where == "header":
            assert req.header("X-Key") == KEY and req.param("X-Key") is None
        else:
            assert req.param("X-Key") == KEY and req.header("X-Key") is None
    assert foreign[0].header("X-Key") is None and foreign[0].param("X-Key") is None
    assert KEY not in text
    assert json.loads(text[: text.rindex("}") + 1][text.index("{") :])["status"] == "succeeded"


def test_http_basic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_PASSWORD", PASSWORD)
    with TestServer(lambda req: Reply(200, {"data": [{"id": 1}], "next": None})) as server:
        auth = '{type: http_basic, username: robot, password: "{{ secrets.API_PASSWORD }}"}'
        code, text = _run(tmp_path, capsys, server, auth)
        sent = server.requests[0].header("Authorization")
    assert code == 0, text
    assert sent == "Basic " + base64.b64encode(f"robot:{PASSWORD}".encode()).decode()
    assert (
        PASSWORD not in text and base64.b64encode(f"robot:{PASSWORD}".encode()).decode() not in text
    )


def test_an_unknown_auth_kind_is_refused_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestServer(lambda req: Reply(200, {"data": []})) as server:
        wf = tmp_path / "wf.yaml"
        wf.write_text(WORKFLOW.format(url=server.url, auth="{type: carrier_pigeon}"))
        code = main(["validate", str(wf)])
        err = capsys.readouterr().err  # errors on stderr, results on stdout
        assert server.requests == []
    assert code == 2 and "carrier_pigeon" in err
