"""fanout: a for_each task against an asyncio client, and a DuckDB merge against DuckDB.

1. 1,000 items fanned out to one detail request each at 50 ms server latency, through
   ``task-runner`` (``for_each``, concurrency 25), against an aiohttp client with the
   same concurrency (a semaphore of 25 over one session). Goal: at most 1.3x its time.
2. 100,000 image records merged into a DuckDB table that already holds half of them, by
   the duckdb sink (``write: merge``: staged as JSONL, then one transaction that deletes
   the keys it brings and inserts the rows),
   against DuckDB's own bulk insert of the same records from a JSONL file
   (``CREATE TABLE ... AS SELECT * FROM read_json(...)``). Goal: at most 2x its time.

Two results, one per goal: ``fanout`` and ``duckdb_merge``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks._common import Result, paired_times, skipped, write_file
from benchmarks._server import make_item

NAME, UNIT, GOAL = "fanout", "x baseline", "fan-out <= 1.3x aiohttp; merge <= 2x read_json"
# (two results, one per goal: ``fanout`` and ``duckdb_merge``)
FANOUT_LIMIT, MERGE_LIMIT = 1.3, 2.0
CONCURRENCY = 25


class _DetailHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        number = int(self.path.rsplit("/", 1)[-1])
        body = json.dumps(make_item(number)).encode()
        time.sleep(self.server.latency)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class DetailServer(ThreadingHTTPServer):
    """``GET /items/N`` -> one image-like record after ``latency`` seconds. The listen
    backlog holds every client's connections at once (http.server's default of 5 would
    drop the SYNs of a burst and measure TCP's one-second retransmit instead)."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), _DetailHandler)
        self.latency = latency
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> DetailServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def _workflow(directory: Path, base_url: str) -> Path:
    text = f"""name: bench-fanout
inputs:
  ids: {{type: array}}
connections:
  local:
    base_url: "{base_url}"
    max_concurrency: {CONCURRENCY}
tasks:
  detail:
    for_each: {{items: "{{{{ inputs.ids }}}}", concurrency: {CONCURRENCY}}}
    connection: local
    request: {{url: "/items/{{{{ item }}}}"}}
"""
    return write_file(directory / "fanout.yaml", text)


async def _aiohttp_fan_out(url: str, ids: list[int]) -> int:
    import aiohttp

    limit = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(number: int) -> Any:
            async with limit, session.get(f"{url}/items/{number}") as resp:
                resp.raise_for_status()
                return await resp.json()

        results = await asyncio.gather(*(one(n) for n in ids))
    return len(results)


def _fan_out(quick: bool) -> tuple[float, float, str]:
    from task_runner.runner.executor import ExecutionOptions, execute
    from task_runner.workflow import load_workflow

    items = 100 if quick else 1000
    latency = 0.005 if quick else 0.05
    repeats = 1 if quick else 3
    ids = list(range(1, items + 1))
    with (
        DetailServer(latency) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        workflow = load_workflow(_workflow(Path(tmp), server.url))

        def through_runner() -> None:
            result = execute(workflow, {"ids": ids}, options=ExecutionOptions())
            assert result.tasks["detail"].item_count == items, result.error

        def with_aiohttp() -> None:
            assert asyncio.run(_aiohttp_fan_out(server.url, ids)) == items

        through_runner()
        runner, baseline = paired_times(through_runner, with_aiohttp, repeats)
    detail = (
        f"fan-out of {items} at {latency * 1000:.0f} ms, concurrency {CONCURRENCY}: "
        f"runner {runner:.3f}s, aiohttp {baseline:.3f}s ({runner / baseline:.2f}x)"
    )
    return runner, baseline, detail


def _load(db: Path, rows: list[dict[str, Any]], context: Any) -> None:
    from task_runner.sinks import make_sink

    sink = make_sink("duckdb", {"path": str(db), "write": "merge"}, context)
    sink.open()
    sink.write_all(rows)
    sink.commit()


def _merge(quick: bool) -> tuple[float, float, str]:
    import duckdb

    from task_runner.sinks import SinkContext, make_sink

    rows_n = 5_000 if quick else 100_000
    repeats = 1 if quick else 3
    rows = [make_item(n) for n in range(rows_n)]
    context = SinkContext(task="images", primary_key="id")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "rows.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        counter = [0]
        # The table already holds half of the rows (an overlapping window came before):
        # the merge replaces those and adds the rest.
        seeded = folder / "seeded.duckdb"
        _load(seeded, rows[: rows_n // 2], context)

        def through_sink() -> None:
            counter[0] += 1
            db = folder / f"sink{counter[0]}.duckdb"
            shutil.copyfile(seeded, db)
            sink = make_sink("duckdb", {"path": str(db), "write": "merge"}, context)
            sink.open()
            for start in range(0, rows_n, 1000):  # as pages arrive
                sink.write_all(rows[start : start + 1000])
            sink.commit()

        def read_json() -> None:
            counter[0] += 1
            con = duckdb.connect(str(folder / f"bulk{counter[0]}.duckdb"))
            con.execute(f"CREATE TABLE images AS SELECT * FROM read_json('{source}')")
            con.close()

        sink_time, bulk_time = paired_times(through_sink, read_json, repeats)
    detail = (
        f"merge of {rows_n:,} rows ({rows_n // 2:,} already there): duckdb sink {sink_time:.3f}s, read_json bulk insert "
        f"{bulk_time:.3f}s ({sink_time / bulk_time:.2f}x)"
    )
    return sink_time, bulk_time, detail


def _fan_out_result(quick: bool) -> Result:
    try:
        import aiohttp  # noqa: F401  (the contender)
    except ImportError:
        reason = "skipped: aiohttp is not installed (pip install 'task-runner[bench]')"
        return skipped("fanout", "x aiohttp", f"<= {FANOUT_LIMIT}x", reason)
    runner, aio, fan_detail = _fan_out(quick)
    return Result(
        "fanout",
        runner / aio,
        "x aiohttp",
        aio,
        f"<= {FANOUT_LIMIT}x",
        None if quick else runner / aio <= FANOUT_LIMIT,
        measured=runner,
        detail=fan_detail,
    )


def run(quick: bool) -> list[Result]:
    fan_out = _fan_out_result(quick)
    sink, bulk, merge_detail = _merge(quick)
    return [
        fan_out,
        Result(
            "duckdb_merge",
            sink / bulk,
            "x read_json",
            bulk,
            f"<= {MERGE_LIMIT}x",
            None if quick else sink / bulk <= MERGE_LIMIT,
            measured=sink,
            detail=merge_detail,
        ),
    ]
