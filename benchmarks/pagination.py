"""pagination: ``paginate: all`` over 50 pages at 50 ms server latency vs a sequential loop.

The first page's ``Total``/``Per-Page`` headers tell the runner how many pages there
are, so pages 2..50 are fetched concurrently and yielded in order. The workflow sets
``max_concurrency: 10`` (paginate and connection); with the default of 4 the ceiling is
50 / (1 + ceil(49 / 4)) = 3.8x, which is why the figure names the setting. The baseline
walks the same pages one after another on a ``requests.Session``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import requests

from benchmarks._common import Result, items_workflow, paired_times
from benchmarks._server import ItemServer

NAME, UNIT, GOAL, LIMIT = "pagination", "x faster", ">= 6x", 6.0
PER_PAGE, CONCURRENCY = 10, 10


def _workflow(directory: Path, base_url: str) -> Path:
    return items_workflow(
        directory / "pagination.yaml",
        "bench-pagination",
        base_url,
        per_page=PER_PAGE,
        max_concurrency=CONCURRENCY,
        paginate=f"{{pages: all, max_concurrency: {CONCURRENCY}}}",
    )


def run(quick: bool) -> Result:
    from task_runner.runner.executor import ExecutionOptions, execute
    from task_runner.workflow import load_workflow

    pages = 5 if quick else 50
    latency = 0.005 if quick else 0.05
    repeats = 1 if quick else 3
    with (
        ItemServer(total=pages * PER_PAGE, latency=latency) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        workflow = load_workflow(_workflow(Path(tmp), server.url))

        def through_runner() -> None:
            result = execute(workflow, {}, options=ExecutionOptions(keep_items_in_memory=False))
            assert result.tasks["fetch"].pages == pages, result.error

        def sequential() -> None:
            with requests.Session() as session:
                for page in range(1, pages + 1):
                    response = session.get(
                        server.url + "/items",
                        params={"per_page": PER_PAGE, "page": page},
                        timeout=30,
                    )
                    response.raise_for_status()
                    response.json()

        through_runner()
        runner_time, sequential_time = paired_times(through_runner, sequential, repeats)
    speedup = sequential_time / runner_time
    return Result(
        NAME,
        speedup,
        UNIT,
        sequential_time,
        GOAL,
        None if quick else speedup >= LIMIT,
        measured=runner_time,
        detail=f"{pages} pages at {latency * 1000:.0f} ms, max_concurrency {CONCURRENCY}: "
        f"runner {runner_time:.3f}s, sequential loop {sequential_time:.3f}s",
    )
