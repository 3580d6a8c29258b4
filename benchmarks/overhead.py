"""overhead: the runner's per-request cost over a bare ``requests.Session`` loop.

Design: one workflow task listing 2,000 single-item pages from a fast local server,
``paginate: {pages: all, max_concurrency: 1}`` so the runner sends the 2,000 GETs one
after another through the real ``execute`` path (prepare, auth, throttle, retry
bookkeeping, response decoding, page ordering, result building). The baseline sends
the same 2,000 GETs with the same query strings on one ``requests.Session`` and
decodes each JSON body. Both sides are sequential against the same server, so the
ratio is the runner's own overhead per request, not a concurrency effect.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import requests

from benchmarks._common import Result, items_workflow, paired_times
from benchmarks._server import ItemServer

NAME, UNIT, GOAL, LIMIT = "overhead", "x", "<= 1.10x", 1.10


def _workflow(directory: Path, base_url: str) -> Path:
    return items_workflow(
        directory / "overhead.yaml",
        "bench-overhead",
        base_url,
        per_page=1,
        max_concurrency=1,
        paginate="{pages: all, max_concurrency: 1}",
    )


def run(quick: bool) -> Result:
    from task_runner.runner.executor import ExecutionOptions, execute
    from task_runner.workflow import load_workflow

    count = 50 if quick else 2_000
    repeats = 1 if quick else 5
    with ItemServer(total=count) as server, tempfile.TemporaryDirectory() as tmp:
        workflow = load_workflow(_workflow(Path(tmp), server.url))

        def through_runner() -> None:
            result = execute(workflow, {}, options=ExecutionOptions(keep_items_in_memory=False))
            task = result.tasks["fetch"]
            assert result.status == "succeeded" and task.pages == count, result.error

        def bare_loop() -> None:
            with requests.Session() as session:
                for page in range(1, count + 1):
                    response = session.get(
                        server.url + "/items", params={"per_page": 1, "page": page}, timeout=30
                    )
                    response.raise_for_status()
                    response.json()

        bare_loop()  # warm both paths (imports, first connection) before timing
        through_runner()
        runner_time, bare_time = paired_times(through_runner, bare_loop, repeats)
    ratio = runner_time / bare_time
    return Result(
        NAME,
        ratio,
        UNIT,
        bare_time,
        GOAL,
        None if quick else ratio <= LIMIT,
        measured=runner_time,
        detail=f"{count} sequential GETs: runner {runner_time:.3f}s, "
        f"bare requests.Session {bare_time:.3f}s",
    )
