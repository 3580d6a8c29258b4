"""The paginator registry: offset/limit, cursor in the body, next URL in the body, each
against a loopback server, with the guarantees of the page paginator (every item once,
loops and lies reported), and the workflow schema's ``paginate`` built from the registry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from task_runner.catalogue import repo_root
from task_runner.http import Client, FakeClock
from task_runner.http.paginators import PAGINATORS, get_paginator
from task_runner.http.tally import Tally
from task_runner.model import (
    ConnectionConfig,
    Expect,
    Pagination,
    PreparedRequest,
    RetryPolicy,
    Timeout,
)
from task_runner.pointer import MISSING, resolve
from task_runner.schema_fragments import apply
from tests.httpserver import Recorded, Reply, TestServer

ITEMS = [{"id": f"obj_{n:03d}", "n": n} for n in range(1, 48)]  # 47 items


def _fetch(
    server: TestServer, pagination: Pagination, query: dict[str, str], items_at: str = "/data"
) -> tuple[list[Any], Tally]:
    request = PreparedRequest(
        "GET", server.url + "/v1/things", query=tuple(query.items()), task="things"
    )
    tally = Tally(key=pagination.key)
    with Client(ConnectionConfig(name="c", base_url=server.url), clock=FakeClock()) as client:
        pages = list(
            client.fetch(
                request,
                retry=RetryPolicy(max_attempts=2, jitter=False),
                timeout=Timeout(2, 2),
                expect=Expect(items="list", items_at=items_at),
                pagination=pagination,
                tally=tally,
            )
        )
    return [item for page in pages for item in page.items], tally


def _offset_server(total_header: bool, clamp: int | None = None) -> Any:
    def handler(req: Recorded) -> Reply:
        offset = int(req.param("offset") or 0)
        limit = int(req.param("limit") or 10)
        limit = min(limit, clamp) if clamp else limit
        headers = {"X-Total-Count": str(len(ITEMS))} if total_header else {}
        return Reply(200, {"data": ITEMS[offset : offset + limit]}, headers)

    return handler


@pytest.mark.parametrize("total", [True, False], ids=["X-Total-Count", "no-count"])
@pytest.mark.parametrize("clamp", [None, 7], ids=["as-asked", "clamped-to-7"])
def test_offset_limit_reads_every_item_once(total: bool, clamp: int | None) -> None:
    pagination = Pagination(mode="all", style="offset", total_header="X-Total-Count")
    with TestServer(_offset_server(total, clamp)) as server:
        items, tally = _fetch(server, pagination, {"limit": "10"})
        offsets = [int(r.param("offset") or 0) for r in server.requests]
    assert items == ITEMS
    tally.finish()
    assert tally.complete, tally.warnings
    assert offsets[:3] == ([0, 10, 20] if clamp is None else [0, 7, 14])


def _cursor_server(has_more: bool, loop: bool = False) -> Any:
    def handler(req: Recorded) -> Reply:
        after = req.param("starting_after")
        start = (
            0 if after is None else next(i for i, it in enumerate(ITEMS) if it["id"] == after) + 1
        )
        if loop and start >= 20:
            start = 10
        chunk = ITEMS[start : start + 10]
        body: dict[str, Any] = {"data": chunk}
        if has_more:
            body["has_more"] = start + 10 < len(ITEMS)
        return Reply(200, body)

    return handler


@pytest.mark.parametrize("has_more", [True, False], ids=["has_more", "until-empty"])
def test_cursor_in_the_body_reads_every_item_once(has_more: bool) -> None:
    pagination = Pagination(
        mode="all",
        style="cursor",
        cursor_param="starting_after",
        cursor_from="/data/-1/id",
        has_more="/has_more" if has_more else None,
    )
    with TestServer(_cursor_server(has_more)) as server:
        items, tally = _fetch(server, pagination, {"limit": "10"})
        cursors = [r.param("starting_after") for r in server.requests]
    assert items == ITEMS
    assert cursors[:3] == [None, "obj_010", "obj_020"]
    assert len(server.requests) == (5 if has_more else 6)  # without the flag: an empty page ends it
    tally.finish()
    assert tally.complete


def test_a_looping_cursor_is_reported_not_followed_forever() -> None:
    pagination = Pagination(mode="all", style="cursor", has_more="/has_more", on_mismatch="warn")
    with TestServer(_cursor_server(True, loop=True)) as server:
        items, tally = _fetch(server, pagination, {})
        assert len(server.requests) < 10
    assert len(items) == len({i["id"] for i in items})
    assert not tally.complete


def test_next_url_in_the_body_is_followed_relative_to_the_response() -> None:
    def handler(req: Recorded) -> Reply:
        page = int(req.param("p") or 1)
        chunk = ITEMS[(page - 1) * 20 : page * 20]
        following = f"things?p={page + 1}" if page * 20 < len(ITEMS) else None
        return Reply(200, {"results": chunk, "links": {"next": following}})

    pagination = Pagination(mode="all", style="next_url", next_url="/links/next")
    with TestServer(handler) as server:
        items, tally = _fetch(server, pagination, {}, items_at="/results")
        paths = [(r.path, r.param("p")) for r in server.requests]
    assert items == ITEMS
    assert paths == [("/v1/things", None), ("/v1/things", "2"), ("/v1/things", "3")]
    tally.finish()
    assert tally.complete


def test_max_pages_caps_every_style() -> None:
    pagination = Pagination(mode="pages", max_pages=2, style="cursor", has_more="/has_more")
    with TestServer(_cursor_server(True)) as server:
        items, tally = _fetch(server, pagination, {})
    assert items == ITEMS[:20] and tally.capped and not tally.complete


def test_an_unknown_style_names_the_known_ones() -> None:
    with pytest.raises(Exception, match=r"unknown pagination style 'pigeon'.*cursor, next_url"):
        get_paginator("pigeon")


def test_pointer_resolution() -> None:
    doc = {"data": [{"id": 1}, {"id": 2}], "a/b": {"~x": 3}, "more": False}
    assert resolve(doc, "/data/-1/id") == 2
    assert resolve(doc, "/data/0/id") == 1
    assert resolve(doc, "/a~1b/~0x") == 3
    assert resolve(doc, "") is doc and resolve(doc, "/more") is False
    assert resolve(doc, "/data/5") is MISSING and resolve(doc, "/nope") is MISSING
    assert resolve(doc, "data") is MISSING


def test_the_workflow_schema_paginate_comes_from_the_registry() -> None:
    committed = json.loads((repo_root() / "schemas" / "workflow.schema.json").read_text())
    assert committed == apply(committed), "run: python -m task_runner.schema_fragments"
    options = committed["$defs"]["paginate"]["oneOf"][3]["properties"]
    assert set(options["style"]["enum"]) == set(PAGINATORS)
    for paginator in PAGINATORS.values():
        assert set(paginator.options) <= set(options)


def test_the_workflow_schema_auth_comes_from_the_registry() -> None:
    from task_runner.http.auth_kinds import AUTH_KINDS, kind

    committed = json.loads((repo_root() / "schemas" / "workflow.schema.json").read_text())
    assert kind("api_key") is not None
    auth = committed["$defs"]["auth"]
    assert set(auth["properties"]["type"]["enum"]) == set(AUTH_KINDS)
    for spec in AUTH_KINDS.values():
        assert set(spec.options) <= set(auth["properties"])
