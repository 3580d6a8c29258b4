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
