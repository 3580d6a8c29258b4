"""Edges found on review: walks that must end (an API ignoring ``offset`` while sending
``Total``, next URLs that mint new tokens), a cursor listing with an empty page before
its end, an unknown charset, and expect/timeout mistakes reported before sending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from task_runner.cli import main
from task_runner.http import Client, FakeClock
from task_runner.http.tally import Tally
from task_runner.model import (
    ConnectionConfig,
    Expect,
    Pagination,
    PreparedRequest,
    RetryPolicy,
    Timeout,
)
from tests.httpserver import Recorded, Reply, TestServer
from tests.runs_support import restore_logging

_logging = pytest.fixture(autouse=True)(restore_logging)

ITEMS = [{"id": n} for n in range(1, 31)]


def _fetch(
    server: TestServer, pagination: Pagination, query: dict[str, str]
) -> tuple[list[Any], Tally, int]:
    request = PreparedRequest("GET", server.url + "/x", query=tuple(query.items()), task="t")
    tally = Tally()
    with Client(ConnectionConfig(name="c", base_url=server.url), clock=FakeClock()) as client:
        pages = list(
            client.fetch(
                request,
                retry=RetryPolicy(max_attempts=1),
                timeout=Timeout(2, 2),
                expect=Expect(items="list", items_at="/data"),
                pagination=pagination,
                tally=tally,
            )
        )
    return [i for p in pages for i in p.items], tally, len(server.requests)


@pytest.mark.timeout(30)
def test_an_api_ignoring_offset_with_a_total_is_not_walked_forever() -> None:
    with TestServer(lambda req: Reply(200, {"data": ITEMS[:10]}, {"Total": "30"})) as server:
        items, tally, requests = _fetch(
            server, Pagination(mode="all", style="offset"), {"limit": "10"}
        )
    assert items == ITEMS[:10] and requests == 4 and not tally.complete


def test_a_cursor_listing_with_an_empty_page_goes_on_while_has_more_says_so() -> None:
    def handler(req: Recorded) -> Reply:
        after = req.param("starting_after")
        if after is None:
            return Reply(200, {"data": ITEMS[:10], "has_more": True, "next": "a"})
        if after == "a":
            return Reply(200, {"data": [], "has_more": True, "next": "b"})
        return Reply(200, {"data": ITEMS[10:], "has_more": False, "next": None})

    pagination = Pagination(mode="all", style="cursor", cursor_from="/next", has_more="/has_more")
    with TestServer(handler) as server:
        items, tally, _ = _fetch(server, pagination, {})
    assert items == ITEMS
    tally.finish()
    assert tally.complete


@pytest.mark.timeout(30)
def test_next_urls_that_never_move_stop_and_say_so() -> None:
    count = iter(range(1_000_000))

    def handler(req: Recorded) -> Reply:
        return Reply(200, {"data": ITEMS[:5], "next": f"/x?token={next(count)}"})

    with TestServer(handler) as server:
        items, tally, requests = _fetch(server, Pagination(mode="all", style="next_url"), {})
    assert items == ITEMS[:5] and requests == 2 and not tally.complete


def test_an_unknown_charset_is_read_as_utf8_not_a_traceback() -> None:
    bad = Reply(200, b"<html>x</html>", {"Content-Type": "text/html; charset=no-such-charset"})
    with TestServer(lambda req: bad) as server, pytest.raises(Exception) as info:
        _fetch(server, Pagination(), {})
    assert "text/html" in str(info.value)
    assert not isinstance(info.value, LookupError)


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ('{checks: [{pointer: /0/name, matches: "("}]}', "invalid task settings: "),
        ('{checks: [{that: "1 +"}]}', "expect.checks[0].that"),
        ("{items: {min: 5, max: 1}}", "min 5 is more than max 1"),
    ],
    ids=["bad-regex", "bad-expression", "bad-bounds"],
)
def test_expect_mistakes_are_input_errors_with_their_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expect: str, message: str
) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "name: e\nconnections: {api: {base_url: 'http://127.0.0.1:9'}}\n"
        "tasks:\n  t:\n    connection: api\n    request: {method: GET, url: /x}\n"
        f"    expect: {expect}\n",
        encoding="utf-8",
    )
    code = main(["validate", str(wf)])
    out = capsys.readouterr()
    assert code == 2 and message in out.out + out.err


def test_a_zero_total_timeout_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "name: e\nconnections: {api: {base_url: 'http://127.0.0.1:9'}}\n"
        "tasks:\n  t:\n    connection: api\n    request: {method: GET, url: /x}\n"
        "    timeout: {total: 0s}\n",
        encoding="utf-8",
    )
    code = main(["validate", str(wf)])
    out = capsys.readouterr()
    assert code == 2 and "timeout.total must be more than 0s" in out.out + out.err
