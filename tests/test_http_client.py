"""The client as the executor uses it: expectations, output sinks, progress, secrets."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from task_runner.errors import HTTPStatusError, OutputError, PaginationError
from task_runner.http import Client, FakeClock, JsonlSink, ProgressEvent, TerminalProgress, drain
from task_runner.http.faults import BodyTooLargeError, HostNotAllowedError
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

ITEMS = [{"id": i} for i in range(1, 96)]
CANARY = "canary-token-5b9e0a44"
RUN = {
    "retry": RetryPolicy(max_attempts=3, jitter=False),
    "timeout": Timeout(2, 2),
    "expect": Expect(),
}


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(paged(ITEMS)) as srv:
        yield srv


def _request(server: TestServer, **kw: object) -> PreparedRequest:
    return PreparedRequest(
        "GET", server.url + "/items", query=(("per_page", "10"),), task="list", **kw
    )  # type: ignore[arg-type]


def _client(server: TestServer, **conn: object) -> Client:
    return Client(ConnectionConfig(name="c", base_url=server.url, **conn), clock=FakeClock())  # type: ignore[arg-type]


def test_headers_merge_connection_request_and_auth(server: TestServer) -> None:
    conn = {
        "headers": {"Procore-Company-Id": "42"},
        "auth": AuthConfig(type="bearer", token="tok-1234"),
    }
    with _client(server, **conn) as client:
        client.send(_request(server, headers={"X-Extra": "1"}), **RUN)
    seen = server.requests[0]
    assert seen.header("Procore-Company-Id") == "42" and seen.header("X-Extra") == "1"
    assert seen.header("Authorization") == "Bearer tok-1234"
    assert seen.header("Accept") == "application/json"


def test_relative_url_joins_base(server: TestServer) -> None:
    with _client(server) as client:
        page = client.send(PreparedRequest("GET", "items", query=(("per_page", "5"),)), **RUN)
    assert page.items == ITEMS[:5]


def test_expected_404_is_success(server: TestServer) -> None:
    server.script(Reply(404, {"message": "no such project"}))
    with _client(server) as client:
        page = client.send(
            _request(server),
            retry=RUN["retry"],
            timeout=RUN["timeout"],
            expect=Expect(status=frozenset({200, 404})),
        )
    assert page.status == 404 and page.body == {"message": "no such project"}


def test_status_error_names_task_status_reason_and_body(server: TestServer) -> None:
    server.script(Reply(422, {"errors": "bad filter " + "x" * 2000}))
    with _client(server) as client, pytest.raises(HTTPStatusError) as info:
        client.send(_request(server), **RUN)
    err = info.value
    assert err.status == 422 and err.reason == "Unprocessable Entity" and err.task == "list"
    assert str(err).startswith("list: GET http://127.0.0.1")
    assert "bad filter" in err.body_excerpt and len(err.body_excerpt) <= 500
    assert "per_page" not in str(err)  # the query stays out of messages


def test_plain_text_error_body_kept_as_text(server: TestServer) -> None:
    server.script(Reply(400, "Missing Procore-Company-Id header!"))
    with (
        _client(server) as client,
        pytest.raises(HTTPStatusError, match="Missing Procore-Company-Id header!"),
    ):
        client.send(_request(server), **RUN)


def test_ids_only_list_of_ints(server: TestServer) -> None:
    server.script(Reply(200, [3, 1, 2]))
    with _client(server) as client:
        assert client.send(_request(server), **RUN).items == [3, 1, 2]


def test_dict_body_is_one_item(server: TestServer) -> None:
    server.script(Reply(200, {"id": 9}))
    with _client(server) as client:
        assert client.send(_request(server), **RUN).items == [{"id": 9}]


def test_request_to_another_host_is_refused(server: TestServer) -> None:
    with (
        _client(server) as client,
        pytest.raises(HostNotAllowedError, match="not the connection c's host"),
    ):
        client.send(PreparedRequest("GET", "http://localhost:1/x"), **RUN)
    assert server.requests == []


def test_body_cap_through_client(server: TestServer) -> None:
    with _client(server) as client, pytest.raises(BodyTooLargeError, match="cap of 50 bytes"):
        client.send(
            _request(server),
            retry=RUN["retry"],
            timeout=RUN["timeout"],
            expect=Expect(max_body_bytes=50),
        )


def test_fetch_into_jsonl_sink(server: TestServer, tmp_path: Path) -> None:
    target = tmp_path / "out" / "items.jsonl"
    with _client(server) as client, JsonlSink(target) as sink:
        result = drain(
            client.fetch(_request(server), pagination=Pagination(mode="all"), **RUN), sink
        )
    lines = target.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(1, 96))
    assert result.item_count == 95 and result.page_count == 10 and result.items is None
    assert len(result.attempts) == 10 and result.body is None
    assert list(target.parent.iterdir()) == [target]


def test_fetch_into_memory(server: TestServer) -> None:
    with _client(server) as client:
        result = drain(client.fetch(_request(server), pagination=Pagination(mode="all"), **RUN))
    assert result.items == ITEMS and result.status == 200


def test_failed_fetch_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "items.jsonl"
    target_before = tmp_path / "keep.jsonl"
    target_before.write_text("old\n")
    with TestServer(paged(ITEMS, faults={7: [Reply(500, "boom")] * 2})) as server:
        with _client(server) as client, pytest.raises(PaginationError, match="page 7"):
            with JsonlSink(target) as sink:
                drain(
                    client.fetch(_request(server), pagination=Pagination(mode="all"), **RUN), sink
                )
        with _client(server) as client, pytest.raises(PaginationError):
            with JsonlSink(target_before) as sink:
                drain(
                    client.fetch(_request(server), pagination=Pagination(mode="all"), **RUN), sink
                )
    assert not target.exists()
    assert target_before.read_text() == "old\n"  # an earlier output is left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl"]


def test_sink_crash_mid_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "x.jsonl"
    with pytest.raises(TypeError):
        with JsonlSink(target) as sink:
            sink.write({"ok": 1})
            sink.write({"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_sink_unwritable_dir_is_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        JsonlSink(blocker / "x.jsonl").open()


def test_token_expiring_mid_pagination_loses_nothing(tmp_path: Path) -> None:
    """Every access token is good for 12 API calls; concurrent pages all re-auth."""
    lock = threading.Lock()
    tokens: dict[str, int] = {}
    issued: list[str] = []
    many = [{"id": n} for n in range(1, 4 * len(ITEMS) + 1)]
    listing = paged(many)

    def token(req: Recorded) -> Reply:
        with lock:
            issued.append(f"tok-{len(issued) + 1}-abcd")
            tokens[issued[-1]] = 12
            return Reply(200, {"access_token": issued[-1], "expires_in": 5400})

    def api(req: Recorded) -> Reply:
        value = (req.header("Authorization") or "").removeprefix("Bearer ")
        with lock:
            if tokens.get(value, 0) <= 0:
                return Reply(401, {"error": "expired"})
            tokens[value] -= 1
        return listing(req)

    with TestServer() as server:
        server.route("/oauth/token", token)
        server.route("/items", api)
        auth = AuthConfig(
            type="oauth2_client_credentials",
            token_url=server.url + "/oauth/token",
            client_id="cid",
            client_secret="csecret-1",
        )
        with _client(server, auth=auth) as client:
            result = drain(
                client.fetch(
                    _request(server), pagination=Pagination(mode="all", max_concurrency=4), **RUN
                )
            )
    assert result.items == many and result.page_count == 38
    assert len(issued) >= 3


def test_progress_events(server: TestServer) -> None:
    events: list[ProgressEvent] = []
    server.script(Reply(503, "busy", {"Retry-After": "3"}))
    with _client(server) as client:
        list(
            client.fetch(
                _request(server), pagination=Pagination(mode="all"), progress=events.append, **RUN
            )
        )
    waits = [e.waiting for e in events if e.waiting]
    pages = [(e.pages_done, e.pages_total, e.items) for e in events if not e.waiting]
    assert waits == [3.0]
    assert pages[0] == (1, None, 10) and pages[-1] == (10, 10, 95)


def test_terminal_progress_silent_off_tty(tmp_path: Path) -> None:
    with open(tmp_path / "err.txt", "w") as stream:
        TerminalProgress(stream)(ProgressEvent("t", 1, 2, 3))
    assert (tmp_path / "err.txt").read_text() == ""


def test_on_page_callback_in_order(server: TestServer) -> None:
    seen: list[int] = []
    with _client(server) as client:
        list(
            client.fetch(
                _request(server),
                pagination=Pagination(mode="all"),
                on_page=lambda p: seen.append(p.number),
                **RUN,
            )
        )
    assert seen == list(range(1, 11))


def test_canary_absent_from_logs_errors_and_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="task_runner")

    def leaky(req: Recorded) -> Reply:
        if req.param("page") == "2":
            return Reply(500, f"server echoes {req.header('Authorization')} and {CANARY}")
        return Reply(
            200, [{"secret": CANARY}], {"Total": "30", "Per-Page": "10", "X-Debug": CANARY}
        )

    target = tmp_path / "out.jsonl"
    with TestServer(leaky) as server:
        conn = {"auth": AuthConfig(type="bearer", token=CANARY)}
        with _client(server, **conn) as client, pytest.raises(PaginationError) as info:
            with JsonlSink(target) as sink:
                drain(
                    client.fetch(_request(server), pagination=Pagination(mode="all"), **RUN), sink
                )
    texts = [caplog.text, str(info.value), repr(info.value), str(info.value.__cause__)]
    texts += [p.read_text() for p in tmp_path.iterdir()]
    assert all(CANARY not in text for text in texts)
    assert "***" in str(info.value)
