"""Windows that end in the still-open present: a feed that grows by 5 items a second.

The server's clock moves on half a second with every request, new items arrive with
``updated_at`` at the current second and the listing is newest first, so an open window
(one that ends now) shifts under the pages while they are read. Twelve consecutive runs
with the default ``lag`` must deliver every item updated before the last window's end
exactly once across all runs; with ``lag: 0s`` a run that got it wrong must say so.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from task_runner.runner.service import run_workflow
from task_runner.state import History
from task_runner.workflow import load_workflow
from tests.httpserver import Recorded, Reply, TestServer

T0 = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.timezone.utc)
RATE = 5  # items per second
STEP = 0.5  # seconds the server's clock moves per request


class Feed:
    """Items ``n = 1, 2, ...`` arrive at ``T0 + n / RATE``; ``updated_at`` is that second."""

    def __init__(self) -> None:
        self.now = T0.timestamp()
        self.lock = threading.Lock()

    def visible(self, now: float) -> list[dict[str, Any]]:
        count = math.floor((now - T0.timestamp()) * RATE)
        return [self.item(n) for n in range(1, count + 1)]

    @staticmethod
    def item(n: int) -> dict[str, Any]:
        stamp = T0 + dt.timedelta(seconds=math.floor(n / RATE))
        return {"id": n, "updated_at": stamp.isoformat().replace("+00:00", "Z")}

    def __call__(self, req: Recorded) -> Reply:
        with self.lock:
            now = self.now
            self.now += STEP
        low, high = (_parse(v) for v in (req.param("filters[updated_at]") or "").split("..."))
        items = [i for i in self.visible(now) if low <= _parse(i["updated_at"]) <= high]
        items.sort(key=lambda i: (i["updated_at"], i["id"]), reverse=True)  # newest first
        page, size = int(req.param("page") or 1), int(req.param("per_page") or 10)
        last = max(1, math.ceil(len(items) / size))
        query = [(k, v) for k, v in req.query if k != "page"]
        link = f'<{req.path}?{urlencode([*query, ("page", last)])}>; rel="last"'
        if page < last:
            link += f', <{req.path}?{urlencode([*query, ("page", page + 1)])}>; rel="next"'
        headers = {"Total": str(len(items)), "Per-Page": str(size), "Link": link}
        return Reply(200, items[(page - 1) * size : page * size], headers)


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


WORKFLOW = """\
name: feed
window: {{initial_lookback: 1h, overlap: {overlap}{lag}}}
connections:
  api: {{base_url: "{url}"}}
tasks:
  feed:
    connection: api
    request:
      method: GET
      url: /feed
      query:
        filters[updated_at]: "{{{{ run.window_start | iso }}}}...{{{{ run.window_end | iso }}}}"
        sort: -updated_at
        per_page: 10
    paginate: {{pages: all, max_concurrency: 1}}
    output:
      jsonl: "{out}/{{{{ run.id }}}}.jsonl"
"""


@pytest.fixture
def feed() -> Iterator[tuple[Feed, TestServer]]:
    source = Feed()
    with TestServer(source) as server:
        yield source, server


def _runs(
    tmp_path: Path, feed: Feed, server: TestServer, *, lag: str, overlap: str
) -> list[tuple[Any, list[int], set[int]]]:
    """Twelve runs 7 s apart: (task result, ids delivered, ids the window really held)."""
    path = tmp_path / "wf.yaml"
    out = tmp_path / "out"
    lag_text = f", lag: {lag}" if lag else ""
    path.write_text(WORKFLOW.format(url=server.url, out=out, lag=lag_text, overlap=overlap))
    workflow = load_workflow(path)
    history = History.open(tmp_path / "state")
    runs = []
    for k in range(12):
        start = T0 + dt.timedelta(seconds=100 + 7 * k)
        feed.now = start.timestamp()
        result = run_workflow(workflow, {}, history=history, now=lambda start=start: start)
        task = result.tasks["feed"]
        assert result.status == "succeeded", result.error
        delivered = [
            json.loads(line)["id"] for line in Path(task.output or "").read_text().splitlines()
        ]
        low, high = _parse(result.window_start or ""), _parse(result.window_end or "")
        truth = {i["id"] for i in feed.visible(feed.now) if low <= _parse(i["updated_at"]) <= high}
        runs.append((task, delivered, truth))
    return runs


@pytest.mark.parametrize("overlap", ["0s", "5s"], ids=["no-overlap", "overlap-5s"])
def test_closed_windows_deliver_every_item_exactly_once_across_runs(
    tmp_path: Path, feed: tuple[Feed, TestServer], overlap: str
) -> None:
    source, server = feed
    runs = _runs(tmp_path, source, server, lag="", overlap=overlap)  # the default lag
    everything = [n for _, delivered, _ in runs for n in delivered]
    last_end = T0 + dt.timedelta(seconds=100 + 7 * 11 - 60)
    expected = {i["id"] for i in source.visible(source.now) if _parse(i["updated_at"]) <= last_end}
    assert len(everything) == len(set(everything)), "an item was delivered twice"
    assert set(everything) == expected, "an item updated before the last window's end was missed"
    assert all(task.complete and task.duplicates_dropped == 0 for task, _, _ in runs)
    if overlap == "5s":  # the overlapping edge was read again and dropped, not re-delivered
        assert all(task.already_delivered >= 5 * RATE for task, _, _ in runs[1:])


def test_open_windows_are_never_silently_wrong(
    tmp_path: Path, feed: tuple[Feed, TestServer]
) -> None:
    source, server = feed
    runs = _runs(tmp_path, source, server, lag="0s", overlap="0s")
    wrong = [(task, d, t) for task, d, t in runs if set(d) != t - _earlier(runs, task)]
    assert wrong, "the feed should have shifted under at least one open window"
    for task, delivered, _ in wrong:
        assert task.complete is False, task.warnings
        assert any("listing changed during the run" in w for w in task.warnings)
        assert len(delivered) == len(set(delivered))  # repeats across pages are dropped


def _earlier(runs: list[tuple[Any, list[int], set[int]]], task: Any) -> set[int]:
    """Ids delivered by the runs before ``task``'s (dropped by design when windows touch)."""
    seen: set[int] = set()
    for other, delivered, _ in runs:
        if other is task:
            return seen
        seen.update(delivered)
    return seen
