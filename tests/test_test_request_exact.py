"""test-request you can trust: what it shows, records and exports is what went on the wire.

One test (at least) per fault of the issue: pages and bodies kept together under retries
and parallel pages; no output published where scheduled runs put theirs; the dry run's
curl line sends the very request test-request sends; recordings reused only against the
place they were made; the dry run accepts what the run accepts; HAR text as received,
the token request included, a reset connection explained.
"""

from __future__ import annotations

import http.client
import json
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from jsonschema import Draft7Validator

from task_runner.cli import main
from task_runner.emulator import Emulator
from tests.support import emulator_token

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "workflows"
IMAGES_ALL = EXAMPLES / "procore_images_all.yaml"
TRADES = EXAMPLES / "procore_trade_photos.yaml"
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]
TRADE_INPUTS = [*INPUTS, "-i", "trade_ids=[101, 102]"]
SCHEMA = json.loads((Path(__file__).parent / "data" / "har-1.2.schema.json").read_text())
HAR_VALIDATOR = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)

PAGED = """\
name: exact-pages
inputs:
  company_id: {type: integer}
  project_id: {type: integer}
connections:
  procore:
    api: procore
    base_url: "{{ env.PROCORE_BASE_URL }}"
    auth:
      type: oauth2_client_credentials
      token_url: "{{ env.PROCORE_TOKEN_URL }}"
      client_id: "{{ secrets.PROCORE_CLIENT_ID }}"
      client_secret: "{{ secrets.PROCORE_CLIENT_SECRET }}"
tasks:
  photos:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      per_page: 50
    paginate: all
    retry: {max_attempts: 4, initial_interval: 10ms, max_interval: 20ms}
"""


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # recordings/ and out/ land in the test's folder
    for name in ("TASK_RUNNER_DEFINITIONS", "PROCORE_BASE_URL", "PROCORE_TOKEN_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


def _point_at(em: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in em.env().items():
        monkeypatch.setenv(key, value)


def _page_of(url: str) -> int:
    return int(dict(parse_qsl(urlsplit(url).query))["page"])


def _har_errors(har: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in HAR_VALIDATOR.iter_errors(har)]


def _check_entries_match_their_requests(
    har: dict[str, Any], recording: dict[str, Any], per_page: int
) -> list[dict[str, Any]]:
    """Every image entry carries its own page: the URL's page, the comment's page and
    the items (ids run on from page 1's first id) agree. Returns the image entries."""
    pages = {r["page"]: r for r in recording["responses"]}
    entries = [e for e in har["log"]["entries"] if "/images" in e["request"]["url"]]
    first_id = pages[1]["body"][0]["id"]
    for entry in entries:
        page = _page_of(entry["request"]["url"])
        assert re.findall(r"\bpage (\d+)", entry["comment"]) == [str(page)], entry["comment"]
        assert {"name": "page", "value": str(page)} in entry["request"]["queryString"]
        if entry["response"]["status"] != 200:
            continue
        items = json.loads(entry["response"]["content"]["text"])
        start = first_id + (page - 1) * per_page
        assert [item["id"] for item in items] == list(range(start, start + len(items)))
        assert items == pages[page]["body"]
    for attempt in recording["attempts"]:
        assert attempt["page"] == _page_of(attempt["url"])
    return entries


# --- 1. pages and bodies stay together ------------------------------------------------


def test_a_retried_page_keeps_its_own_items_in_the_har_recording_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's run: a 503 on the second request, three pages of 100 fetched in parallel."""
    options = ["--pages", "3", "--har", "x.har", "--output", "json"]
    with Emulator(faults="503:retry-after=1@2") as em:
        _point_at(em, monkeypatch)
        code = main(["test-request", str(IMAGES_ALL), "-t", "list_images", *INPUTS, *options])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    har = json.loads((tmp_path / "x.har").read_text())
    recording = json.loads(Path(payload["recording"]).read_text())
    assert _har_errors(har) == []
    entries = _check_entries_match_their_requests(har, recording, per_page=100)
    assert sorted(e["response"]["status"] for e in entries) == [200, 200, 200, 503]
    # the failed attempt names its page too; the JSON output is the recording's log
    assert all(a["page"] == _page_of(a["url"]) for a in payload["attempts"])
    [refused] = [a for a in payload["attempts"] if a["status"] == 503]
    assert refused["attempt"] == 1 and refused["wait_before_next"] == 1.0
    retried = [a for a in payload["attempts"] if a["page"] == refused["page"]]
    assert [a["attempt"] for a in retried] == [1, 2]


def test_a_har_under_retries_resets_and_out_of_order_pages_is_valid_and_true(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(PAGED)
    # Requests 2.. go out in parallel: one is slow (so later pages finish first), one
    # gets a 503, one a reset connection; which page gets which is up to the threads.
    faults = "slow:delay=0.3@2;503:retry-after=0@3;reset@4"
    with Emulator(faults=faults) as em:
        _point_at(em, monkeypatch)
        options = ["--pages", "5", "--har", "x.har", "--output", "json"]
        code = main(["test-request", str(workflow), "-t", "photos", *INPUTS, *options])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0, payload["error"]
    har = json.loads((tmp_path / "x.har").read_text())
    assert _har_errors(har) == []
    recording = json.loads(Path(payload["recording"]).read_text())
    entries = _check_entries_match_their_requests(har, recording, per_page=50)
    statuses = sorted(e["response"]["status"] for e in entries)
    assert statuses == [0, 200, 200, 200, 200, 200, 503]
    [reset] = [e for e in entries if e["response"]["status"] == 0]
    assert "connection" in reset["response"]["_error"]
    assert reset["response"]["bodySize"] == -1
    assert {_page_of(e["request"]["url"]) for e in entries} == {1, 2, 3, 4, 5}


# --- 2. no output published by a test run ---------------------------------------------


def test_a_test_run_writes_its_items_beside_the_recording_never_to_the_tasks_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["test-request", str(IMAGES_ALL), "-t", "list_images", *INPUTS]
    with Emulator() as em:
        _point_at(em, monkeypatch)
        assert main([*base, "--no-record"]) == 0
        text = capsys.readouterr().out
        assert not (tmp_path / "out").exists()
        assert not (tmp_path / "recordings").exists()
        assert "output: not written (nothing is recorded)" in text
        assert "out/procore-images-all/" in text  # it says where scheduled runs write

        assert main([*base, "--output", "json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert main(base) == 0
        shown = capsys.readouterr().out
    assert not (tmp_path / "out").exists()
    jsonl = Path(payload["output"])
    assert jsonl == Path(payload["recording"]).with_suffix(".jsonl")
    lines = jsonl.read_text().splitlines()
    assert len(lines) == 100 and json.loads(lines[0]) == payload["responses"][0]["body"][0]
    [line] = [x for x in shown.splitlines() if x.startswith("output: ")]
    assert line.startswith("output: recordings/procore-images-all/list_images/")
    assert ".jsonl (100 item(s);" in line
    # the JSONL beside a recording is not taken for a recording
    assert main(["recordings", "list", "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["recordings"]
    assert all(r["path"].endswith(".json") for r in listed) and len(listed) == 2


# --- 3. the dry run shows what is sent, and its curl line sends it ------------------------

WIRE = """\
name: wire-check
inputs:
  company_id: {type: integer}
  project_id: {type: integer}
connections:
  api:
    api: procore
    base_url: "{{ env.WIRE_BASE_URL }}"
    headers:
      X-Client-Tag: tag-1
    auth:
      type: oauth2_client_credentials
      token_url: "{{ env.WIRE_BASE_URL }}/oauth/token"
      client_id: "{{ secrets.WIRE_CLIENT_ID }}"
      client_secret: "{{ secrets.WIRE_CLIENT_SECRET }}"
tasks:
  list_images:
    operation: procore.images.list
    connection: api
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      filters[query]: "a b&c"
      per_page: 10
    paginate: all
  create:
    connection: api
    request:
      method: POST
      url: /rest/v1.0/echo
      body: {note: "hello {{ inputs.project_id }}", "\\u00fc": "\\u00df"}
"""


class WireServer:
    """Loopback HTTP/1.1 server that keeps each request's line, headers (in order, as
    sent) and body; answers a token at /oauth/token and one JSON item elsewhere."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[tuple[str, str]], bytes]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen.append((self.requestline, list(self.headers.items()), body))
                if self.path.startswith("/oauth/token"):
                    data = {"access_token": "wire-token-5f0c2a9e", "expires_in": 3600}
                else:
                    data = [{"id": 1}]
                payload = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Total", "1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def api_requests(self) -> list[tuple[str, list[tuple[str, str]], bytes]]:
        return [s for s in self.seen if "/oauth/token" not in s[0]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[WireServer]:
    server = WireServer()
    monkeypatch.setenv("WIRE_BASE_URL", server.url)
    monkeypatch.setenv("WIRE_CLIENT_ID", "wire-client-id-3c1d")
    monkeypatch.setenv("WIRE_CLIENT_SECRET", "wire-client-secret-77aa90")
    yield server
    server.close()


def _replay(curl: str, via: str) -> None:
    """Send a curl line with curl, or parse it and send its request with http.client."""
    argv = shlex.split(curl)
    if via == "curl":
        if not shutil.which("curl"):
            pytest.skip("curl is not installed (the http.client replay runs instead)")
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
        return
    method, url, headers, body = "GET", "", [], None
    words = iter(argv[1:])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(": ")
            headers.append((name, value))
        elif word == "--data-raw":
            body = next(words).encode()
        elif not word.startswith("-"):
            url = word
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.putrequest(method, target, skip_accept_encoding=True)  # Host: from the URL, first
    for name, value in headers:  # Content-Length among them, as curl sends it
        conn.putheader(name, value)
    conn.endheaders(body)
    conn.getresponse().read()
    conn.close()


def _masked(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, "Bearer ***" if k.lower() == "authorization" else v) for k, v in headers]


@pytest.mark.parametrize("via", ["curl", "http.client"])
@pytest.mark.parametrize(
    ("task", "extra"), [("list_images", []), ("create", ["--yes"])], ids=["get-paged", "post-body"]
)
def test_the_dry_run_curl_line_sends_the_request_test_request_sends(
    task: str,
    extra: list[str],
    via: str,
    tmp_path: Path,
    wire: WireServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(WIRE)
    base = ["test-request", str(workflow), "-t", task, *INPUTS]
    assert main([*base, *extra]) == 0
    printed = capsys.readouterr().out.splitlines()[0]
    [(sent_line, sent_headers, sent_body)] = wire.api_requests()
    assert sent_line.split()[0] == ("GET" if task == "list_images" else "POST")
    assert printed == f"{sent_line.split()[0]} {wire.url}{sent_line.split()[1]}"

    assert main([*base, "--dry-run", "--output", "json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert [(k, v) for k, v in dry["request"]["headers"].items()] == _masked(sent_headers)
    _replay(dry["curl"], via)
    [_, (curl_line, curl_headers, curl_body)] = wire.api_requests()
    assert curl_line == sent_line
    assert _masked(curl_headers) == _masked(sent_headers)
    assert curl_body == sent_body
    names = [k.lower() for k, _ in sent_headers]
    assert {"host", "user-agent", "accept-encoding", "connection"} <= set(names)
    if task == "list_images":
        assert "page=1" in sent_line and "page=1" in dry["curl"]


def test_the_recording_and_the_printed_request_are_the_wire_request(
    tmp_path: Path, wire: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(WIRE)
    code = main(["test-request", str(workflow), "-t", "list_images", *INPUTS, "--output", "json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    [(line, headers, _)] = wire.api_requests()
    for shown in (
        payload["request"],
        json.loads(Path(payload["recording"]).read_text())["request"],
    ):
        assert shown["url"] == wire.url + line.split()[1]
        assert list(shown["headers"].items()) == _masked(headers)
    assert list(payload["attempts"][0]["request_headers"].items()) == _masked(headers)


# --- 4. recordings are reused only against the place they were made ---------------------


def test_an_emulator_recording_is_not_used_for_another_host(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["test-request", str(TRADES), *TRADE_INPUTS, "--output", "json"]
    assert main([*base, "-t", "find_trade_photos", "--emulator"]) == 0
    emulated = json.loads(capsys.readouterr().out)["recording"]

    with Emulator() as other:  # stands for the real API: another host
        _point_at(other, monkeypatch)
        assert main([*base, "-t", "fetch_photos"]) == 0
        captured = capsys.readouterr()
        first = json.loads(captured.out)
        assert first["upstream"]["find_trade_photos"]["source"] == "ran"
        assert (
            f"find_trade_photos: not using {emulated}: it was made for procore.images.list at "
            f"the emulator, and this run sends procore.images.list at {other.base_url}"
        ) in captured.err
        assert "running first" in captured.err

        # the recording made against this host now stands in, and stderr says why
        assert main([*base, "-t", "fetch_photos"]) == 0
        captured = capsys.readouterr()
        again = json.loads(captured.out)
    ran = first["upstream"]["find_trade_photos"]["recording"]
    assert again["upstream"]["find_trade_photos"] == {"source": "recording", "recording": ran}
    assert (
        f"find_trade_photos: output taken from its recording {ran} (same inputs, same "
        f"procore.images.list at {other.base_url})"
    ) in captured.err


def test_emulator_recordings_serve_later_emulator_runs(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["test-request", str(TRADES), *TRADE_INPUTS, "--emulator", "--output", "json"]
    assert main([*base, "-t", "find_trade_photos"]) == 0
    recorded = json.loads(capsys.readouterr().out)["recording"]
    assert json.loads(Path(recorded).read_text())["emulated"] is True
    assert main([*base, "-t", "fetch_photos"]) == 0  # another emulator, another port
    captured = capsys.readouterr()
    assert json.loads(captured.out)["upstream"]["find_trade_photos"]["recording"] == recorded
    assert "(same inputs, same procore.images.list at the emulator)" in captured.err


# --- 5. the dry run accepts what the run accepts ----------------------------------------


@pytest.mark.parametrize("emulated", [False, True], ids=["env", "emulator-flag"])
def test_a_dry_run_takes_upstream_output_from_the_recording_the_run_would_use(
    emulated: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flag = ["--emulator"] if emulated else []
    base = ["test-request", str(TRADES), *TRADE_INPUTS, *flag, "--output", "json"]
    with Emulator() as em:
        if not emulated:
            _point_at(em, monkeypatch)
        assert main([*base, "-t", "find_trade_photos"]) == 0
        first = json.loads(capsys.readouterr().out)
        code = main([*base, "-t", "fetch_photos", "--dry-run"])
        captured = capsys.readouterr()
    assert code == 0, captured.err
    dry = json.loads(captured.out)
    ids = [item for r in first["responses"] for item in r["body"]]
    assert [int(v) for k, v in dry["request"]["query"] if k == "filters[id][]"] == ids
    assert f"output taken from its recording {first['recording']}" in captured.err
    assert all(f"filters%5Bid%5D%5B%5D={i}" in dry["curl"] for i in ids)


def test_a_dry_run_without_a_usable_recording_says_which_task_to_test_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["test-request", str(TRADES), "-t", "fetch_photos", *TRADE_INPUTS, "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert "reads tasks.find_trade_photos.output" in err
    assert "--task find_trade_photos` first" in err


# --- 6. HAR details -----------------------------------------------------------------------


def test_har_text_is_the_body_as_received_and_the_token_request_is_there_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator() as em:
        _point_at(em, monkeypatch)
        options = ["--har", "x.har", "--output", "json"]
        code = main(["test-request", str(IMAGES_ALL), "-t", "list_images", *INPUTS, *options])
        capsys.readouterr()
        har_text = (tmp_path / "x.har").read_text()
        har = json.loads(har_text)
        [entry] = [e for e in har["log"]["entries"] if "/images" in e["request"]["url"]]
        headers = {"Authorization": f"Bearer {emulator_token(em)}", "Procore-Company-Id": "8089"}
        direct = requests.get(entry["request"]["url"], headers=headers, timeout=10)
        secret = em.client_secret
    assert code == 0 and _har_errors(har) == []
    content = entry["response"]["content"]
    assert content["text"] == direct.text  # not re-serialised, not pretty-printed
    assert content["size"] == len(content["text"].encode()) == len(direct.content)

    [token] = [e for e in har["log"]["entries"] if e["request"]["url"] == em.token_url]
    assert token["request"]["method"] == "POST"
    assert "client_secret=***" in token["request"]["postData"]["text"]
    assert token["request"]["postData"]["mimeType"] == "application/x-www-form-urlencoded"
    assert json.loads(token["response"]["content"]["text"])["access_token"] == "***"
    assert token["comment"] == "task list_images: token request"
    assert secret not in har_text


def test_a_reset_connection_says_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(PAGED)
    with Emulator(faults="reset@1") as em:
        _point_at(em, monkeypatch)
        options = ["--har", "x.har", "--output", "json"]
        code = main(["test-request", str(workflow), "-t", "photos", *INPUTS, *options])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    har = json.loads((tmp_path / "x.har").read_text())
    assert _har_errors(har) == []
    reset, retried = [e for e in har["log"]["entries"] if "/images" in e["request"]["url"]]
    assert reset["response"]["status"] == 0
    assert "connection" in reset["response"]["_error"]
    assert reset["response"]["_error"] in reset["comment"]
    assert retried["response"]["status"] == 200
    assert payload["attempts"][0]["error"] == reset["response"]["_error"]
    assert [a["page"] for a in payload["attempts"]] == [1, 1]


def test_a_recording_that_does_not_say_where_it_was_made_is_not_used(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["test-request", str(TRADES), *TRADE_INPUTS, "--output", "json"]
    with Emulator() as em:
        _point_at(em, monkeypatch)
        assert main([*base, "-t", "find_trade_photos"]) == 0
        path = Path(json.loads(capsys.readouterr().out)["recording"])
        older = json.loads(path.read_text())
        del older["base_url"], older["emulated"]  # as format 1 wrote them
        path.write_text(json.dumps(older))
        assert main([*base, "-t", "fetch_photos"]) == 0
    captured = capsys.readouterr()
    assert f"not using {path}: it does not say where it was made" in captured.err
    assert json.loads(captured.out)["upstream"]["find_trade_photos"]["source"] == "ran"


# --- the attempt log itself -------------------------------------------------------------


def test_every_attempt_carries_its_own_page_and_exchanges_under_parallel_reauth() -> None:
    """Tokens good for 8 calls, pages fetched on 4 threads: every 401, token request and
    resend lands on the attempt that made it, with its own page's URL and body. (With
    fewer calls than twice the threads, the other threads could use a renewed token up
    before a slow thread's resend, which then fails as a persistent 401 should.)"""
    from task_runner.http import Client
    from task_runner.http.retry import Attempt
    from task_runner.model import (
        AuthConfig,
        ConnectionConfig,
        Expect,
        Pagination,
        PreparedRequest,
        RetryPolicy,
        Timeout,
    )
    from tests.httpserver import Recorded, Reply, TestServer, paged

    items = [{"id": n} for n in range(1, 121)]
    listing = paged(items)
    lock = threading.Lock()
    calls: dict[str, int] = {}

    def token(req: Recorded) -> Reply:
        with lock:
            value = f"tok-{len(calls) + 1}-5e1f"
            calls[value] = 8
        return Reply(200, {"access_token": value, "expires_in": 5400})

    def api(req: Recorded) -> Reply:
        value = (req.header("Authorization") or "").removeprefix("Bearer ")
        with lock:
            if calls.get(value, 0) <= 0:
                return Reply(401, {"error": "expired"})
            calls[value] -= 1
        return listing(req)

    events: list[Attempt] = []
    with TestServer() as server:
        server.route("/oauth/token", token)
        server.route("/items", api)
        auth = AuthConfig(
            type="oauth2_client_credentials",
            token_url=server.url + "/oauth/token",
            client_id="cid-0001",
            client_secret="csecret-0001",
        )
        connection = ConnectionConfig(name="c", base_url=server.url, auth=auth)
        request = PreparedRequest("GET", "/items", query=(("per_page", "10"),), task="t")
        run = {"retry": RetryPolicy(max_attempts=3), "timeout": Timeout(2, 2), "expect": Expect()}
        with Client(connection, on_attempt=events.append) as client:
            pages = list(
                client.fetch(request, pagination=Pagination(mode="all", max_concurrency=4), **run)
            )
        with Client(connection) as plain:  # no listener: no bodies kept beyond the page
            [page] = list(
                plain.fetch(request, pagination=Pagination(mode="pages", max_pages=1), **run)
            )
    assert [p.number for p in pages] == list(range(1, 13))
    assert all(a.exchanges == () for a in page.attempts)
    assert {a.page for a in events} == set(range(1, 13)) and all(a.task == "t" for a in events)
    assert len(calls) >= 3  # tokens ran out and were renewed mid-listing
    renewed = 0
    for attempt in events:
        api_calls = [e for e in attempt.exchanges if e.purpose == "request"]
        assert api_calls and all(_page_of(e.request.url) == attempt.page for e in api_calls)
        assert api_calls[-1].status == attempt.status == 200
        body = json.loads(api_calls[-1].content)
        start = (attempt.page - 1) * 10 + 1  # type: ignore[operator]
        assert [item["id"] for item in body] == list(range(start, start + 10))
        if api_calls[0].status == 401:  # the resend with a new token is the same attempt
            renewed += 1
            assert len(api_calls) == 2
            sent = [e.request.header("Authorization") for e in api_calls]
            assert sent[0] != sent[1]
        for exchange in attempt.exchanges:
            if exchange.purpose == "token":
                assert exchange.request.method == "POST" and exchange.status == 200
    assert renewed >= 1
    tokens = [e for a in events for e in a.exchanges if e.purpose == "token"]
    assert len(tokens) == len(calls) - 1  # the plain client's token is nobody's business
