"""Templated values stay in their place: a value in a raw request URL is one path segment
or one query value, whatever it holds; a header value with CR/LF is refused as input
(exit 2, nothing sent). Checked on the wire against a loopback server."""

from __future__ import annotations

from pathlib import Path

import pytest

from task_runner.cli import main
from task_runner.workflow.request_builder import url_template
from tests.httpserver import Reply, TestServer
from tests.runs_support import restore_logging

_logging = pytest.fixture(autouse=True)(restore_logging)

WORKFLOW = """\
name: sealed
inputs:
  v: {{type: string}}
connections:
  api: {{base_url: "{url}"}}
tasks:
  probe:
    connection: api
    request:
      method: GET
      url: "{path}"
      headers: {{X-Probe: "{header}"}}
"""


def _run(tmp_path: Path, server: TestServer, value: str, *, path: str, header: str = "ok") -> int:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW.format(url=server.url, path=path, header=header), encoding="utf-8")
    return main(["run", str(wf), "--input", f"v={value}", "--output", "json"])


@pytest.mark.parametrize(
    ("value", "raw_path"),
    [
        ("a?x=1", "/items/a%3Fx%3D1/photos"),
        ("a#frag", "/items/a%23frag/photos"),
        ("a/b", "/items/a%2Fb/photos"),
        ("a\r\nX-Injected: 1", "/items/a%0D%0AX-Injected%3A%201/photos"),
        ("a%2F..%2F", "/items/a%252F..%252F/photos"),
        ("x y", "/items/x%20y/photos"),
        ("ü", "/items/%C3%BC/photos"),
    ],
    ids=["query", "fragment", "slash", "crlf", "pre-encoded", "space", "unicode"],
)
def test_a_templated_path_value_is_one_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, raw_path: str
) -> None:
    with TestServer(lambda req: Reply(200, [])) as server:
        code = _run(tmp_path, server, value, path="/items/{{ inputs.v }}/photos")
        capsys.readouterr()
        sent = server.requests
    assert code == 0
    assert len(sent) == 1
    assert sent[0].path == raw_path  # as on the wire, not decoded
    assert sent[0].query == [] and sent[0].header("X-Injected") is None


@pytest.mark.parametrize("value", ["a&admin=1", "a#b", "x=1&y=2", "a\r\nb"])
def test_a_templated_query_value_is_one_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with TestServer(lambda req: Reply(200, [])) as server:
        code = _run(tmp_path, server, value, path="/items?q={{ inputs.v }}&fixed=1")
        capsys.readouterr()
        sent = server.requests
    assert code == 0
    assert sent[0].query == [("q", value), ("fixed", "1")]


@pytest.mark.parametrize(
    "value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b"], ids=["crlf", "lf", "cr", "nul"]
)
def test_a_header_value_with_a_line_break_is_refused_as_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with TestServer(lambda req: Reply(200, [])) as server:
        code = _run(tmp_path, server, value, path="/items", header="{{ inputs.v }}")
        captured = capsys.readouterr()
        assert server.requests == []  # nothing was sent
    assert code == 2
    assert "header 'X-Probe' holds a line break or NUL" in captured.out + captured.err


def test_url_template_wraps_every_expression_and_keeps_literals() -> None:
    assert url_template("/a/{{ x }}/b?c={{ y | upper }}&d=1") == (
        "/a/{{ (x) | url_component }}/b?c={{ (y | upper) | url_component }}&d=1"
    )
    assert url_template("/plain/path?x=1") == "/plain/path?x=1"
    assert url_template("/{{- x -}}") == "/{{- (x) | url_component -}}"
