"""Data you can trust: ``run`` against loopback servers that behave the way real APIs do.

Each server serves one listing of items with ids ``1..n`` in a stable order, paginated by
``page``/``per_page`` and described by some mix of ``Total``, ``Per-Page`` and ``Link``;
some change the listing between pages or lie. Every case runs ``task-runner run`` and
checks the JSONL output against the ids the server really had: every item exactly once,
or a non-zero exit / an ``incomplete`` result that says why.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from task_runner.cli import main
from task_runner.http import Client
from task_runner.model import AuthConfig, ConnectionConfig
from tests.httpserver import Recorded, Reply, TestServer
from tests.runs_support import restore_logging

_logging = pytest.fixture(autouse=True)(restore_logging)

TOKEN = "tok-canary-5e1f0a9d"


class Listing:
    """A paginated listing of ``{"id": n}`` items with a configurable dialect.

    ``link``: ``absolute`` | ``relative`` | ``query`` (``<?page=2>``) | ``semicolon``
    (``;jsessionid=`` in the path) | ``quoted`` (a quoted param with ``=`` before rel) |
    ``none``. ``max_per_page`` clamps what the client asks for; ``before_page(n, items)``
    may change the listing before page ``n`` is served.
    """

    def __init__(
        self,
        count: int,
        *,
        total: bool = True,
        per_page_header: bool = True,
        link: str = "absolute",
        max_per_page: int | None = None,
        before_page: Callable[[int, list[dict[str, Any]]], None] | None = None,
        total_value: Callable[[int, int], str] | None = None,
    ) -> None:
        self.items = [{"id": n, "name": f"item {n}"} for n in range(1, count + 1)]
        self.total, self.per_page_header, self.link = total, per_page_header, link
        self.max_per_page, self.before_page = max_per_page, before_page
        self.total_value = total_value
        self.lock = threading.Lock()
        self.served: list[int] = []

    def __call__(self, req: Recorded) -> Reply:
        page = int(req.param("page") or 1)
        size = int(req.param("per_page") or 10)
        if self.max_per_page:
            size = min(size, self.max_per_page)
        with self.lock:
            if self.before_page is not None:
                self.before_page(page, self.items)
            self.served.append(page)
            chunk = self.items[(page - 1) * size : page * size]
            count = len(self.items)
        headers: dict[str, str] = {}
        if self.total:
            headers["Total"] = self.total_value(page, count) if self.total_value else str(count)
        if self.per_page_header:
            headers["Per-Page"] = str(size)
        last = max(1, math.ceil(count / size))
        if self.link != "none":
            headers["Link"] = self._links(req, page, last)
        return Reply(200, chunk, headers)

    def _links(self, req: Recorded, page: int, last: int) -> str:
        rels = [("first", 1), ("last", last)] + ([("next", page + 1)] if page < last else [])
        return ", ".join(self._link(req, n, rel) for rel, n in rels)

    def _link(self, req: Recorded, number: int, rel: str) -> str:
        query = urlencode([(k, v) for k, v in req.query if k != "page"] + [("page", number)])
        name = req.path.rsplit("/", 1)[-1].split(";")[0]
        if self.link == "relative":
            return f'<{name}?{query}>; rel="{rel}"'
        if self.link == "query":
            return f'<?{query}>; rel="{rel}"'
        if self.link == "semicolon":
            return f'<{req.base_url}/api/{name};jsessionid=a1?{query}>; rel="{rel}"'
        if self.link == "quoted":
            return f'<{req.base_url}{req.path}?{query}>; title="a=b; c, d"; REL="{rel.upper()}"'
        return f'<{req.base_url}{req.path}?{query}>; rel="{rel}"'


def write_workflow(
    path: Path,
    base_url: str,
    *,
    per_page: int = 10,
    paginate: str = "all",
    extra_connection: str = "",
    auth: str = "",
) -> Path:
    path.write_text(
        f"""\
name: trust
connections:
  api:
    base_url: "{base_url}"
{auth}{extra_connection}tasks:
  items:
    connection: api
    request:
      method: GET
      url: /api/items
      query: {{per_page: {per_page}}}
    paginate: {paginate}
    output:
      jsonl: "{path.parent}/out/items.jsonl"
""",
        encoding="utf-8",
    )
    return path


def run(
    capsys: pytest.CaptureFixture[str], workflow: Path
) -> tuple[int, dict[str, Any], str, list[Any] | None]:
    """``run --output json``: exit code, the task's JSON, stderr, the JSONL items (None if
    the file was not published)."""
    code = main(["run", str(workflow), "--output", "json"])
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    output = workflow.parent / "out" / "items.jsonl"
    items = (
        [json.loads(line) for line in output.read_text().splitlines()] if output.exists() else None
    )
    return code, data["tasks"]["items"], captured.err, items


def ids(items: list[Any] | None) -> list[int]:
    assert items is not None, "the JSONL output was not published"
    return [item["id"] for item in items]


# -- 1, 2: Link headers the old parser lost, relative targets -------------------------


@pytest.mark.parametrize(
    "link", ["semicolon", "quoted", "relative", "query"], ids=lambda v: f"link-{v}"
)
def test_link_only_listings_are_read_to_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], link: str
) -> None:
    listing = Listing(45, total=False, per_page_header=False, link=link)
    with TestServer(listing) as server:
        code, task, err, items = run(capsys, write_workflow(tmp_path / "wf.yaml", server.url))
    assert code == 0, err
    assert ids(items) == list(range(1, 46))
    assert listing.served == [1, 2, 3, 4, 5]
    assert task["complete"] is True and task["pages"] == 5 and task["warnings"] == []


# -- 4: a server that clamps per_page --------------------------------------------------


@pytest.mark.parametrize("per_page_header", [False, True], ids=["no-Per-Page", "Per-Page"])
@pytest.mark.parametrize("link", ["none", "absolute"], ids=["no-Link", "Link"])
def test_clamped_page_size_is_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], per_page_header: bool, link: str
) -> None:
    listing = Listing(250, max_per_page=100, per_page_header=per_page_header, link=link)
    with TestServer(listing) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=1000)
        code, task, err, items = run(capsys, wf)
    assert code == 0, err
    assert ids(items) == list(range(1, 251))
    assert (task["total_reported"], task["item_count"], task["complete"]) == (250, 250, True)


def test_clamped_page_size_without_total_or_link_is_probed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = Listing(250, max_per_page=100, total=False, per_page_header=False, link="none")
    with TestServer(listing) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=1000)
        code, task, err, items = run(capsys, wf)
    assert code == 0, err
    assert ids(items) == list(range(1, 251))
    assert task["total_reported"] is None and task["complete"] is True


# -- 5: listings that change or lie during pagination ----------------------------------


def _grow_after_first(page: int, items: list[dict[str, Any]]) -> None:
    if page == 2 and len(items) == 200:
        items.extend({"id": n, "name": f"item {n}"} for n in range(201, 231))


def test_total_growing_between_pages_is_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = Listing(200, link="none", before_page=_grow_after_first)
    with TestServer(listing) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=50)
        code, task, err, items = run(capsys, wf)
    assert code == 0, err
    assert ids(items) == list(range(1, 231))
    assert task["total_reported"] == 230 and task["complete"] is True
    assert any("Total 200 -> 230" in w for w in task["warnings"])
    assert "Total 200 -> 230" in err  # a warning on stderr too


def _insert_front(page: int, items: list[dict[str, Any]]) -> None:
    if page == 2 and items[0]["id"] == 1:
        items[:0] = [{"id": n, "name": f"new {n}"} for n in range(1001, 1008)]


def _delete_front(page: int, items: list[dict[str, Any]]) -> None:
    if page == 2 and items[0]["id"] == 1:
        del items[:7]


def _empty_page_two(page: int, items: list[dict[str, Any]]) -> None:
    pass


CHANGES = {
    "insert-7-front": (_insert_front, 200, 7),
    "delete-7-front": (_delete_front, 193, 0),
}


@pytest.mark.parametrize("case", list(CHANGES), ids=list(CHANGES))
@pytest.mark.parametrize("on_mismatch", ["warn", "fail"])
def test_listing_shifting_under_the_run_is_never_silent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, on_mismatch: str
) -> None:
    mutate, delivered, duplicates = CHANGES[case]
    listing = Listing(200, link="none", before_page=mutate)
    with TestServer(listing) as server:
        wf = write_workflow(
            tmp_path / "wf.yaml",
            server.url,
            per_page=50,
            paginate=f"{{pages: all, max_concurrency: 1, on_mismatch: {on_mismatch}}}",
        )
        code, task, err, items = run(capsys, wf)
    assert task["complete"] is False
    assert task["item_count"] == delivered and task["duplicates_dropped"] == duplicates
    assert "items may have moved between pages" in " ".join(task["warnings"])
    assert "items may have moved between pages" in err
    if on_mismatch == "fail":
        assert code == 1 and items is None  # the JSONL is not published
        assert "cannot vouch for the listing" in task["error"]
    else:
        assert code == 0
        assert len(ids(items)) == len(set(ids(items))) == delivered  # each id once


def test_empty_page_in_the_middle_does_not_drop_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = Listing(200, link="none")
    inner = listing.__call__

    def handler(req: Recorded) -> Reply:
        reply = inner(req)
        if req.param("page") == "2":
            reply.body = []
        return reply

    with TestServer(handler) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=50)
        code, task, err, items = run(capsys, wf)
    assert code == 0, err
    assert ids(items) == list(range(1, 51)) + list(range(101, 201))  # pages 3-4 kept
    assert task["complete"] is False and task["total_reported"] == 200
    assert any("page 2 was empty" in w for w in task["warnings"])
    assert "Total says 200 item(s), 150 delivered" in err


def test_overlapping_pages_are_kept_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = Listing(200, link="none")

    def handler(req: Recorded) -> Reply:
        page = int(req.param("page") or 1)
        start = max(0, (page - 1) * 50 - 5)  # each page repeats the last 5 of the one before
        reply = listing(req)
        reply.body = listing.items[start : start + 50] if page > 1 else reply.body
        return reply

    with TestServer(handler) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=50)
        code, task, err, items = run(capsys, wf)
    assert code == 0, err
    assert ids(items) == list(range(1, 201))
    assert task["duplicates_dropped"] == 5 and task["complete"] is True


def test_no_total_and_no_link_reads_every_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = Listing(200, total=False, per_page_header=False, link="none")
    with TestServer(listing) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=50)
        code, _task, err, items = run(capsys, wf)
    assert code == 0, err
    assert ids(items) == list(range(1, 201))
    assert listing.served == [1, 2, 3, 4, 5]  # the 5th, empty, says the listing ended


def test_stale_total_with_full_last_page_fetches_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``Total`` says 100 on every page although there are 130 items: a full last planned
    page without a Link ``next`` is not taken as the end."""
    listing = Listing(130, link="none", total_value=lambda page, count: "100")
    with TestServer(listing) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=50)
        _code, task, err, items = run(capsys, wf)
    assert ids(items) == list(range(1, 131))
    assert task["complete"] is False  # 130 delivered against a Total of 100: said, not hidden
    assert "Total says 100 item(s), 130 delivered" in err


# -- bad pagination headers ------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["abc", "-5", "1.5", ""], ids=["text", "negative", "float", "empty"]
)
def test_bad_total_header_is_named_and_probing_takes_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    listing = Listing(45, link="none", per_page_header=False, total_value=lambda p, c: value)
    with TestServer(listing) as server:
        code, _task, err, items = run(capsys, write_workflow(tmp_path / "wf.yaml", server.url))
    assert code == 0, err
    assert ids(items) == list(range(1, 46))
    assert f"page 1: the Total header {value!r} is not a non-negative integer" in err


@pytest.mark.parametrize("value", ["ten", "-10", "0"], ids=["text", "negative", "zero"])
def test_bad_per_page_header_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    listing = Listing(45, link="none", per_page_header=False)

    def handler(req: Recorded) -> Reply:
        reply = listing(req)
        reply.headers = {**reply.headers, "Per-Page": value}
        return reply

    with TestServer(handler) as server:
        code, task, err, items = run(capsys, write_workflow(tmp_path / "wf.yaml", server.url))
    assert code == 0, err
    assert ids(items) == list(range(1, 46)) and task["complete"] is True
    if value != "0":
        assert f"page 1: the Per-Page header {value!r} is not a non-negative integer" in err


def test_malformed_link_header_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def handler(req: Recorded) -> Reply:
        page = int(req.param("page") or 1)
        body = [{"id": n} for n in range((page - 1) * 10 + 1, min(page * 10, 25) + 1)]
        return Reply(200, body, {"Link": '<https://x/?page=2>; rel="next'})  # unclosed quote

    with TestServer(handler) as server:
        code, _task, err, items = run(capsys, write_workflow(tmp_path / "wf.yaml", server.url))
    assert code == 0, err
    assert ids(items) == list(range(1, 26))  # probed by number instead
    assert "page 1: the Link header is malformed" in err


def test_next_link_looping_back_stops_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def handler(req: Recorded) -> Reply:
        page = int(req.param("page") or 1)
        target = f"{req.base_url}{req.path}?per_page=10&page={1 if page == 3 else page + 1}"
        body = [{"id": n} for n in range((page - 1) * 10 + 1, page * 10 + 1)]
        return Reply(200, body, {"Link": f'<{target}>; rel="next"'})

    with TestServer(handler) as server:
        wf = write_workflow(
            tmp_path / "wf.yaml", server.url, paginate="{pages: all, on_mismatch: fail}"
        )
        code, task, _err, items = run(capsys, wf)
        assert len(server.requests) == 3  # page 3 links back to page 1: not fetched again
    assert code == 1 and items is None
    assert "Link next URL points back at page" in task["error"]


# -- 6: bodies that are not what the operation promises --------------------------------

NOT_DATA = {
    "html-maintenance": Reply(
        200, b"<html><body>Down for maintenance</body></html>", {"Content-Type": "text/html"}
    ),
    "plain-text": Reply(200, "service unavailable"),
    "xml": Reply(200, b"<?xml version='1.0'?><items/>", {"Content-Type": "application/xml"}),
    "object-not-list": Reply(200, {"data": [{"id": 1}]}),
    "json-error-200": Reply(200, {"errors": "Missing Procore-Company-Id header!"}),
    "html-no-content-type": Reply(200, b"<html>oops</html>", {}),
    "json-string": Reply(200, "maintenance", {"Content-Type": "application/json"}),
}


@pytest.mark.parametrize("case", list(NOT_DATA), ids=list(NOT_DATA))
@pytest.mark.parametrize("page", [1, 2])
def test_a_body_that_is_not_a_list_is_never_a_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, page: int
) -> None:
    listing = Listing(30, link="none")
    bad = NOT_DATA[case]
    if case == "json-string":
        bad = Reply(200, b'"maintenance"', {"Content-Type": "application/json"})

    def handler(req: Recorded) -> Reply:
        return bad if req.param("page") == str(page) else listing(req)

    with TestServer(handler) as server:
        code, task, _err, items = run(capsys, write_workflow(tmp_path / "wf.yaml", server.url))
    assert code == 1 and items is None
    error = task["error"]
    assert f"items: page {page} failed: the 200 response" in error
    assert "not used as data" in error
    assert ("promises a list" in error) or ("not the JSON" in error)


def test_the_body_excerpt_in_the_error_is_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    page = Reply(200, f"<html>token {TOKEN}</html>".encode(), {"Content-Type": "text/html"})
    with TestServer(lambda req: page) as server:
        wf = write_workflow(
            tmp_path / "wf.yaml",
            server.url,
            auth='    auth: {type: bearer, token: "{{ secrets.API_TOKEN }}"}\n',
        )
        code, task, err, _items = run(capsys, wf)
    assert code == 1 and "text/html" in task["error"] and "<html>token ***" in task["error"]
    assert TOKEN not in err and TOKEN not in json.dumps(task)


# -- 3: credentials stay on the connection's origin ------------------------------------


def test_next_link_to_another_origin_carries_no_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page 1 on 127.0.0.1 sets a cookie and links to ``localhost`` (allowed) and page 3 to
    another port of 127.0.0.1: neither gets the token, a connection header or the cookie."""
    monkeypatch.setenv("API_TOKEN", TOKEN)
    with TestServer() as other_port, TestServer() as server:

        def page(req: Recorded, number: int, next_url: str | None) -> Reply:
            headers = {"Set-Cookie": f"session={TOKEN}; Path=/"}
            if next_url:
                headers["Link"] = f'<{next_url}>; rel="next"'
            return Reply(200, [{"id": number}], headers)

        port = server.url.rsplit(":", 1)[1]
        server.route(
            "/api/items",
            lambda req: (
                page(req, 1, f"http://localhost:{port}/api/two")
                if req.param("page") in (None, "1")
                else page(req, 99, None)
            ),
        )
        server.route("/api/two", lambda req: page(req, 2, f"{other_port.url}/api/three"))
        other_port.route("/api/three", lambda req: page(req, 3, None))
        wf = write_workflow(
            tmp_path / "wf.yaml",
            server.url,
            auth='    auth: {type: bearer, token: "{{ secrets.API_TOKEN }}"}\n'
            "    headers: {X-Api-Key: secret-header-value}\n",
            extra_connection="    allowed_hosts: [localhost]\n",
        )
        code, _task, err, items = run(capsys, wf)
        first = server.requests_to("/api/items")[0]
        foreign = server.requests_to("/api/two") + other_port.requests_to("/api/three")
    assert code == 0, err
    assert ids(items) == [1, 2, 3]
    assert first.header("Authorization") == f"Bearer {TOKEN}"
    assert first.header("X-Api-Key") == "secret-header-value"
    assert len(foreign) == 2
    for req in foreign:
        assert req.header("Authorization") is None
        assert req.header("X-Api-Key") is None
        assert req.header("Cookie") is None


@pytest.mark.parametrize(
    ("target", "credentials"),
    [
        ("https://api.example.com/x", True),
        ("https://api.example.com:443/x", True),
        ("http://api.example.com/x", False),  # https -> http downgrade: another origin
        ("https://api.example.com:8443/x", False),  # another port
        ("https://files.example.com/x", False),  # an allowed host
    ],
    ids=["same", "same-default-port", "downgrade", "other-port", "allowed-host"],
)
def test_credentials_follow_the_origin_not_the_host(target: str, credentials: bool) -> None:
    connection = ConnectionConfig(
        name="c",
        base_url="https://api.example.com",
        auth=AuthConfig(type="bearer", token="t-0123456789"),
        allowed_hosts=frozenset({"files.example.com"}),
    )
    with Client(connection) as client:
        assert client._target(target) == (target, credentials)


def test_next_link_carrying_a_secret_to_another_origin_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    with TestServer() as server:
        port = server.url.rsplit(":", 1)[1]
        server.route(
            "/api/items",
            lambda req: Reply(
                200,
                [{"id": 1}],
                {"Link": f'<http://localhost:{port}/api/items?token={TOKEN}&page=2>; rel="next"'},
            ),
        )
        wf = write_workflow(
            tmp_path / "wf.yaml",
            server.url,
            auth='    auth: {type: bearer, token: "{{ secrets.API_TOKEN }}"}\n',
            extra_connection="    allowed_hosts: [localhost]\n",
        )
        code, task, err, _items = run(capsys, wf)
        assert len(server.requests) == 1
    assert code == 1 and "carries a secret" in task["error"]
    assert TOKEN not in err


SEQUENTIAL = "{pages: all, max_concurrency: 1}"


@pytest.mark.parametrize("run", range(5))
def test_a_listing_that_grows_at_the_front_is_incomplete_in_any_page_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], run: int
) -> None:
    """Pages fetched concurrently reach the server in any order; the 7 items inserted
    before page 1 after it was read are missed whatever the order, and the run says so."""
    listing = Listing(200, link="none", before_page=_insert_front)
    with TestServer(listing) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=50)
        assert main(["run", str(wf), "--output", "json"]) == 0
    task = json.loads(capsys.readouterr().out)["tasks"]["items"]
    assert task["complete"] is False
    assert task["total_reported"] == 207
    assert task["item_count"] < 207
    assert any("the listing changed during the run" in w for w in task["warnings"])


def test_text_summary_says_what_was_vouched_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = Listing(200, link="none", before_page=_insert_front)
    with TestServer(listing) as server:
        # one page at a time: which page the server answers first decides the figures
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=50, paginate=SEQUENTIAL)
        code = main(["run", str(wf)])
    text = capsys.readouterr().out
    assert code == 0
    assert "INCOMPLETE: 200 of Total 207 item(s) delivered, 7 duplicate(s) dropped" in text
    assert "warning: the listing changed during the run (Total 200 -> 207)" in text
    with TestServer(Listing(30)) as server:
        main(["run", str(write_workflow(tmp_path / "ok.yaml", server.url))])
    assert "complete: 30 of Total 30 item(s) delivered\n" in capsys.readouterr().out


def test_runs_show_says_what_the_run_vouched_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = Listing(200, link="none", before_page=_insert_front)
    state = str(tmp_path / "state")
    with TestServer(listing) as server:
        wf = write_workflow(tmp_path / "wf.yaml", server.url, per_page=50, paginate=SEQUENTIAL)
        main(["run", str(wf), "--state-dir", state, "--output", "json"])
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    main(["runs", "show", run_id, "--state-dir", state])
    text = capsys.readouterr().out
    assert "INCOMPLETE: 200 of Total 207 item(s) delivered, 7 duplicate(s) dropped" in text
    assert "warning: the listing changed during the run" in text
