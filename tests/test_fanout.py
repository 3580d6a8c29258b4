"""for_each: a task per item, against a real HTTP server on 127.0.0.1: item order,
bounded concurrency, failure policies, JSONL streaming, resuming by run id, the loader's
checks and test-request's first N items."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from task_runner.errors import InputErrors
from task_runner.runner import ExecutionOptions, execute
from task_runner.runner.fanout import Checkpoint, item_key
from task_runner.workflow import load_workflow
from task_runner.workflow.loader import filter_extension
from task_runner.workflow.prepare import RunContext
from tests.httpserver import Recorded, Reply, TestServer
from tests.runs_support import write_workflow


class Details:
    """``GET /items/N`` -> ``{"id": N, "name": ...}`` after a random delay; counts the
    requests in flight at once; ``fail`` ids answer 404."""

    def __init__(self, fail: set[int] | None = None, delay: float = 0.02) -> None:
        self.fail = fail or set()
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.seen: list[int] = []

    def __call__(self, req: Recorded) -> Reply:
        number = int(req.path.rsplit("/", 1)[-1])
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.seen.append(number)
        try:
            time.sleep(random.uniform(0, self.delay))  # finish out of order
        finally:
            with self.lock:
                self.in_flight -= 1
        if number in self.fail:
            return Reply(404, {"error": "not found"})
        return Reply(200, {"id": number, "name": f"item {number}"})


def workflow(tmp_path: Path, server: TestServer, task: dict[str, Any], **extra: Any) -> Path:
    data = {
        "name": "fan",
        "inputs": {"ids": {"type": "array", "items": {"type": "integer"}, "default": [1, 2, 3]}},
        "connections": {"api": {"base_url": server.url, "max_concurrency": 4}},
        "tasks": {
            "detail": {
                "connection": "api",
                "request": {"url": "/items/{{ item }}"},
                "retry": {"max_attempts": 1},
                **task,
            },
            **extra,
        },
    }
    return write_workflow(tmp_path / "wf.yaml", data)


def run(path: Path, ids: list[int], **options: Any) -> Any:
    return execute(load_workflow(path), {"ids": ids}, options=ExecutionOptions(**options))


def test_items_come_back_in_item_order_with_item_and_index(tmp_path: Path) -> None:
    details = Details()
    with TestServer(details) as server:
        path = workflow(
            tmp_path,
            server,
            {
                "for_each": {"items": "{{ inputs.ids }}", "concurrency": 3},
                "request": {"url": "/items/{{ item }}", "query": {"at": "{{ index }}"}},
            },
        )
        ids = list(range(100, 140))
        result = run(path, ids)
        task = result.tasks["detail"]
        assert result.status == "succeeded", task.error
        assert [row["id"] for row in (task.response or {})["items"]] == ids
        assert task.item_count == len(ids)
        positions = {int(r.path.rsplit("/", 1)[-1]): r.param("at") for r in server.requests}
        assert positions == {n: str(i) for i, n in enumerate(ids)}
        assert details.seen != sorted(details.seen) or len(ids) < 3  # they did overlap
        assert 1 < details.most <= 3
        assert task.fan_out is not None and (task.fan_out or {})["done"] == len(ids)


def test_concurrency_is_capped_by_the_connection_pool(tmp_path: Path) -> None:
    details = Details()
    with TestServer(details) as server:
        path = workflow(
            tmp_path, server, {"for_each": {"items": "{{ inputs.ids }}", "concurrency": 50}}
        )
        assert run(path, list(range(30))).status == "succeeded"
    assert details.most <= 4  # max_concurrency of the connection


def test_fail_fast_stops_sending_after_the_first_failure(tmp_path: Path) -> None:
    details = Details(fail={3})
    with TestServer(details) as server:
        path = workflow(
            tmp_path, server, {"for_each": {"items": "{{ inputs.ids }}", "concurrency": 1}}
        )
        result = run(path, list(range(50)))
    task = result.tasks["detail"]
    assert result.status == "failed"
    assert "item 3 (3) failed" in (task.error or "") and "fail_fast" in (task.error or "")
    assert len(details.seen) < 10  # nothing much after item 3 was sent
    assert (task.fan_out or {})["failed"] == 1


def test_continue_runs_every_item_and_fails_listing_the_failed(tmp_path: Path) -> None:
    details = Details(fail={3, 7})
    with TestServer(details) as server:
        path = workflow(
            tmp_path,
            server,
            {"for_each": {"items": "{{ inputs.ids }}", "on_failure": "continue"}},
        )
        result = run(path, list(range(10)))
    task = result.tasks["detail"]
    assert result.status == "failed"
    assert sorted(details.seen) == list(range(10))
    assert "2 of 10 item(s) failed" in (task.error or "")
    assert [f["index"] for f in (task.fan_out or {})["failed_items"]] == [3, 7]
    assert "404" in (task.fan_out or {})["failed_items"][0]["error"]


def test_max_failures_tolerates_some_and_warns(tmp_path: Path) -> None:
    details = Details(fail={3, 7})
    with TestServer(details) as server:
        path = workflow(
            tmp_path, server, {"for_each": {"items": "{{ inputs.ids }}", "max_failures": 2}}
        )
        ok = run(path, list(range(10)))
        path = workflow(
            tmp_path, server, {"for_each": {"items": "{{ inputs.ids }}", "max_failures": 1}}
        )
        too_many = run(path, list(range(10)))
    assert ok.status == "succeeded"
    assert [r["id"] for r in (ok.tasks["detail"].response or {})["items"]] == [
        0,
        1,
        2,
        4,
        5,
        6,
        8,
        9,
    ]
    assert any("2 of 10 item(s) failed" in w for w in ok.tasks["detail"].warnings)
    assert too_many.status == "failed"
    assert "more than max_failures: 1" in (too_many.tasks["detail"].error or "")


def test_items_stream_from_an_upstream_jsonl_file(tmp_path: Path) -> None:
    listing = [{"id": n} for n in range(25)]
    with TestServer(Details()) as server:
        server.route("/list", lambda req: Reply(200, listing))
        path = workflow(
            tmp_path,
            server,
            {
                "for_each": "{{ tasks.listing.output.jsonl }}",
                "request": {"url": "/items/{{ item.id }}"},
                "output": {"jsonl": str(tmp_path / "details.jsonl")},
            },
            listing={
                "connection": "api",
                "request": {"url": "/list"},
                "output": {"jsonl": str(tmp_path / "list.jsonl")},
            },
        )
        result = run(path, [])
    assert result.status == "succeeded", result.error
    lines = (tmp_path / "details.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(25))
    assert result.tasks["detail"].output == str(tmp_path / "details.jsonl")


def test_a_run_id_resumes_skipping_the_items_already_done(tmp_path: Path) -> None:
    checkpoints = tmp_path / "state" / "fanout"
    details = Details(fail={4, 5})
    with TestServer(details) as server:
        path = workflow(
            tmp_path,
            server,
            {"for_each": {"items": "{{ inputs.ids }}", "on_failure": "continue", "key": "id"}},
        )
        workflow_ = load_workflow(path)
        run_ctx = RunContext.now("fan")
        options = ExecutionOptions(checkpoint_dir=str(checkpoints))
        first = execute(workflow_, {"ids": list(range(10))}, run=run_ctx, options=options)
        assert first.status == "failed"
        assert (checkpoints / run_ctx.id / "detail.jsonl").is_file()
        details.fail.clear()
        details.seen.clear()
        second = execute(workflow_, {"ids": list(range(10))}, run=run_ctx, options=options)
    task = second.tasks["detail"]
    assert second.status == "succeeded", task.error
    assert sorted(details.seen) == [4, 5]  # only what failed is sent again
    assert [r["id"] for r in (task.response or {})["items"]] == list(range(10))
    assert (task.fan_out or {})["resumed"] == 8
    assert not (checkpoints / run_ctx.id).exists()  # a run that succeeded leaves nothing


def test_a_torn_checkpoint_line_only_runs_that_item_again(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"key":1,"rows":[{"id":1}]}\n{"key":2,"rows":[{"id"', encoding="utf-8")
    checkpoint = Checkpoint(path)
    assert checkpoint.get(1) == {"key": 1, "rows": [{"id": 1}]}
    assert checkpoint.get(2) is None


def test_item_and_index_are_refused_outside_for_each(tmp_path: Path) -> None:
    with TestServer(Details()) as server:
        path = workflow(tmp_path, server, {"request": {"url": "/items/{{ item }}"}})
        with pytest.raises(InputErrors) as caught:
            load_workflow(path)
    text = caught.value.format()
    assert "item" in text and "wf.yaml:" in text and "is undefined" in text


def test_for_each_mistakes_are_reported_with_their_place(tmp_path: Path) -> None:
    with TestServer(Details()) as server:
        path = workflow(
            tmp_path,
            server,
            {"for_each": {"items": "{{ item }}", "on_failure": "sometimes", "concurrency": 0}},
        )
        with pytest.raises(InputErrors) as caught:
            load_workflow(path)
    text = caught.value.format()
    assert "detail.for_each.on_failure" in text
    assert "detail.for_each.concurrency" in text
    with TestServer(Details()) as server:
        path = workflow(tmp_path, server, {"for_each": {"items": "{{ item }}"}})
        with pytest.raises(InputErrors) as caught:
            load_workflow(path)
    # item is not defined where the items come from
    text = caught.value.format()
    assert "detail.for_each.items: 'item' is undefined" in text
    assert "read in the templates of a task with for_each" in text


def test_a_url_from_a_value_needs_a_connection(tmp_path: Path) -> None:
    data = {
        "name": "u",
        "tasks": {"get": {"url": "{{ inputs.where }}"}},
        "inputs": {"where": {"type": "string"}},
    }
    with pytest.raises(InputErrors) as caught:
        load_workflow(write_workflow(tmp_path / "wf.yaml", data))
    assert "get.url" in caught.value.format() and "needs a `connection`" in caught.value.format()


def test_for_each_that_gives_no_list_fails_the_task_clearly(tmp_path: Path) -> None:
    with TestServer(Details()) as server:
        path = workflow(tmp_path, server, {"for_each": "{{ inputs.ids | length }}"})
        result = run(path, [1, 2])
    assert result.status == "failed"
    assert "gave int, not a list or a JSONL file path" in (result.tasks["detail"].error or "")


def test_max_items_runs_the_first_n_and_counts_the_rest(tmp_path: Path) -> None:
    details = Details()
    with TestServer(details) as server:
        path = workflow(tmp_path, server, {"for_each": "{{ inputs.ids }}"})
        result = run(path, list(range(7)), max_items=2)
    task = result.tasks["detail"]
    assert sorted(details.seen) == [0, 1]
    assert (task.fan_out or {})["limit"] == 2 and (task.fan_out or {})["not_run"] == 5


def test_test_request_runs_the_first_item_and_says_so(tmp_path: Path, capsys: Any) -> None:
    from task_runner.cli import main

    details = Details()
    with TestServer(details) as server:
        path = workflow(tmp_path, server, {"for_each": "{{ inputs.ids }}"})
        code = main(
            ["test-request", str(path), "--task", "detail", "--record-dir", str(tmp_path / "rec")]
        )
    printed = capsys.readouterr().out
    assert code == 0
    assert details.seen == [1]
    assert "ran the first 1 of 3 item(s) (--items 1)" in printed


@given(st.text())
def test_extension_never_adds_a_path(value: str) -> None:
    ext = filter_extension(value)
    assert "/" not in ext and "\\" not in ext and ".." not in ext
    assert ext == "" or (ext.startswith(".") and ext[1:].isalnum() and ext == ext.lower())


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4))
def test_item_key_is_stable_across_key_order(item: dict[str, Any]) -> None:
    reordered = dict(reversed(list(item.items())))
    assert item_key(item, "id") == item_key(reordered, "id")


def test_an_interrupted_fan_out_resumes_where_it_stopped(tmp_path: Path) -> None:
    cancel = threading.Event()
    details = Details(delay=0.01)

    def handler(req: Recorded) -> Reply:
        if len(details.seen) >= 5:
            cancel.set()  # as SIGTERM does, through `run`'s graceful stop
        return details(req)

    checkpoints = tmp_path / "fanout"
    with TestServer(handler) as server:
        path = workflow(
            tmp_path, server, {"for_each": {"items": "{{ inputs.ids }}", "concurrency": 2}}
        )
        workflow_ = load_workflow(path)
        run_ctx = RunContext.now("fan")
        first = execute(
            workflow_,
            {"ids": list(range(40))},
            run=run_ctx,
            options=ExecutionOptions(checkpoint_dir=str(checkpoints), cancel=cancel),
        )
        assert first.status == "interrupted"
        sent_first = sorted(details.seen)
        assert 5 <= len(sent_first) < 40
        details.seen.clear()
        second = execute(
            workflow_,
            {"ids": list(range(40))},
            run=run_ctx,
            options=ExecutionOptions(checkpoint_dir=str(checkpoints)),
        )
    assert second.status == "succeeded"
    assert not set(details.seen) & set(sent_first)  # nothing is sent twice
    assert [r["id"] for r in (second.tasks["detail"].response or {})["items"]] == list(range(40))


def test_a_secret_in_a_response_is_masked_in_the_checkpoint(tmp_path: Path) -> None:
    from task_runner.redact import REDACTOR

    canary = "fanout-canary-0b7c2e19d4"
    REDACTOR.add(canary, source="test")

    def handler(req: Recorded) -> Reply:
        number = int(req.path.rsplit("/", 1)[-1])
        if number == 2:
            return Reply(500, {"error": "down"})
        return Reply(200, {"id": number, "note": f"key {canary}"})

    checkpoints = tmp_path / "fanout"
    with TestServer(handler) as server:
        path = workflow(
            tmp_path,
            server,
            {"for_each": {"items": "{{ inputs.ids }}", "on_failure": "continue"}},
        )
        result = execute(
            load_workflow(path),
            {"ids": [1, 2, 3]},
            options=ExecutionOptions(checkpoint_dir=str(checkpoints)),
        )
    assert result.status == "failed"  # so the checkpoint stays for a resume
    saved = "".join(p.read_text() for p in checkpoints.rglob("*.jsonl"))
    assert "fanout-canary" not in saved and "***" in saved
    assert canary not in json.dumps(result.to_json())


@given(
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=8, unique=True),
    st.integers(min_value=0, max_value=400),
)
def test_a_checkpoint_cut_anywhere_keeps_its_whole_lines(keys: list[int], cut: int) -> None:
    import tempfile

    lines = [json.dumps({"key": k, "rows": [{"id": k}]}) + "\n" for k in keys]
    text = "".join(lines)[:cut]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.jsonl"
        path.write_text(text, encoding="utf-8")
        loaded = Checkpoint(path)
    whole = text.count("\n")  # lines that kept their newline are complete
    for position, key in enumerate(keys):
        if position < whole:
            assert loaded.get(key) == {"key": key, "rows": [{"id": key}]}
        elif position > whole:
            assert loaded.get(key) is None


# --- what validate knows of outputs, keys and item fields --------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the DuckDB file of `chain` is relative to it


def chain(tmp_path: Path, server_url: str, **download: Any) -> Path:
    """``list`` (a raw request) then ``get`` for each of its items, writing rows to DuckDB."""
    data = {
        "name": "chain",
        "connections": {"api": {"base_url": server_url}},
        "tasks": {
            "list": {
                "connection": "api",
                "request": {"url": "/list"},
                "output": {"duckdb": {"path": "c.duckdb", "table": "list", "primary_key": "id"}},
            },
            "get": {
                "for_each": {"items": "{{ tasks.list.output.items }}", "on_failure": "continue"},
                "connection": "api",
                "request": {"url": "/items/{{ item.id }}"},
                "retry": {"max_attempts": 1},
                **download,
            },
        },
    }
    return write_workflow(tmp_path / "chain.yaml", data)


def save_list_schema(tmp_path: Path) -> None:
    """The response schema ``test-request --save-schema`` keeps beside the workflow."""
    folder = tmp_path / "schemas"
    folder.mkdir(exist_ok=True)
    schema = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "url": {"type": "string"}},
        },
    }
    (folder / "chain.list.response.schema.json").write_text(json.dumps(schema), encoding="utf-8")


def load_errors(path: Path) -> list[Any]:
    with pytest.raises(InputErrors) as caught:
        load_workflow(path)
    return list(caught.value.errors)


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize(
    ("items", "expected", "hint"),
    [
        ("{{ tasks.list.output.itemz }}", "tasks.list.output.itemz is not an attribute", "'items'"),
        ("{{ tasks.list.output['statuss'] }}", "tasks.list.output.statuss is not", "'status'"),
        ("{{ tasks.list.output.jsonl }}", "task 'list' writes no JSONL file", "jsonl: PATH"),
        ("{{ tasks.list.output.for_each }}", "task 'list' has no for_each", None),
    ],
    ids=["unknown", "unknown-by-key", "jsonl-without-sink", "for-each-of-a-plain-task"],
)
def test_an_output_attribute_that_is_not_there_is_a_load_error(
    tmp_path: Path, items: str, expected: str, hint: str | None
) -> None:
    path = chain(tmp_path, "http://127.0.0.1:9", for_each={"items": items})
    (error,) = load_errors(path)
    assert expected in error.message
    assert error.path == "get.for_each.items"
    assert error.location.line == line_of(path, "tasks.list.output")
    if hint is not None:
        assert hint in (error.hint or "")


def test_every_output_attribute_is_accepted(tmp_path: Path) -> None:
    from task_runner.runner.result import OUTPUT_ATTRIBUTES, task_output

    # the one list is what a task's output really has
    output = task_output(
        status=200, headers={}, first_body=None, pages=0, items=[], item_count=0, jsonl=None
    )
    assert set(output) == set(OUTPUT_ATTRIBUTES)
    body = {
        a: f"{{{{ tasks.list.output.{a} }}}}"
        for a in OUTPUT_ATTRIBUTES
        if a not in ("jsonl", "for_each")
    }
    load_workflow(
        chain(tmp_path, "http://127.0.0.1:9", request={"url": "/x", "method": "POST", "body": body})
    )


def test_an_attribute_named_at_run_time_lists_every_attribute(tmp_path: Path, in_tmp: None) -> None:
    with TestServer(lambda req: Reply(200, [{"id": 1}])) as server:
        path = chain(
            tmp_path,
            server.url,
            for_each={"items": "{{ tasks.list.output[inputs.which] }}"},
        )
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("name: chain", "name: chain\ninputs: {which: {type: string}}"),
            encoding="utf-8",
        )
        result = execute(load_workflow(path), {"which": "itemz"})
    error = result.tasks["get"].error or ""
    assert "tasks.list.output.itemz is undefined" in error
    for attribute in ("status", "headers", "body", "items", "jsonl", "for_each", "sinks"):
        assert attribute in error


def test_a_primary_key_the_rows_do_not_have_is_a_load_error_when_their_shape_is_known(
    tmp_path: Path,
) -> None:
    save_list_schema(tmp_path)
    path = chain(
        tmp_path,
        "http://127.0.0.1:9",
        url="{{ item.url }}",
        request=None,
        output={
            "files": {"path": "f/{{ item.id }}"},
            "duckdb": {"path": "c.duckdb", "table": "files", "primary_key": "sha"},
        },
    )
    text = path.read_text(encoding="utf-8").replace("primary_key: id", "primary_key: idd")
    path.write_text(text, encoding="utf-8")
    errors = {e.path: e for e in load_errors(path)}
    listed = errors["list.output.duckdb.primary_key"]
    assert "'idd' is not a field of the rows of task 'list'" in listed.message
    assert listed.hint == "did you mean 'id'?"
    assert listed.location.line == line_of(path, "primary_key: idd")
    files = errors["get.output.duckdb.primary_key"]  # the rows of a files task: its records
    assert "its file records have id, path, size, sha256" in files.message
    assert files.hint == "did you mean 'sha256'?"


def test_a_primary_key_missing_at_run_time_fails_the_task_and_it_is_not_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], in_tmp: None
) -> None:
    from task_runner.cli import main

    with TestServer(lambda req: Reply(200, [{"id": 1}, {"id": 2}])) as server:
        path = chain(tmp_path, server.url)
        text = path.read_text(encoding="utf-8").replace("primary_key: id", "primary_key: idd")
        path.write_text(text, encoding="utf-8")
        load_workflow(path)  # no schema known: the load cannot tell
        result = execute(load_workflow(path), {})
        assert main(["run", str(path), "--state-dir", str(tmp_path / "state")]) == 1
    task = result.tasks["list"]
    assert task.status == "failed" and task.complete is False
    assert "have no field 'idd' to merge on (they have id)" in (task.error or "")
    assert "complete:" not in capsys.readouterr().out


def test_an_item_field_the_upstream_items_do_not_have(
    tmp_path: Path,
) -> None:
    path = chain(tmp_path, "http://127.0.0.1:9", request={"url": "/items/{{ item.idd }}"})
    load_workflow(path)  # no schema: not known at load
    save_list_schema(tmp_path)
    (error,) = load_errors(path)
    assert error.message.startswith("item.idd is not a field of the items of task 'list'")
    assert error.hint == "did you mean 'id'?" and error.path == "get.request.url"


def test_an_item_field_missing_at_run_time_is_named_once(tmp_path: Path, in_tmp: None) -> None:
    rows = [{"id": n} for n in range(8)]
    with TestServer(lambda req: Reply(200, rows)) as server:
        path = chain(tmp_path, server.url, request={"url": "/items/{{ item.idd }}"})
        result = execute(load_workflow(path), {})
    error = result.tasks["get"].error or ""
    assert error.count("item.idd is undefined") == 1
    assert "8 items (0, 1, 2 and 5 more" in error
    assert "--run-id" not in error  # a template mistake is not mended by retrying
