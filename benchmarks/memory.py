"""memory: peak RSS of a run streaming 100,000 items to JSONL vs one of 1,000 items.

Each run is a fresh ``task-runner run`` subprocess against a local listing server in
a process of its own: Procore-sized image records of about 600 bytes
(:func:`benchmarks._server.make_item`), :data:`PER_PAGE` to a page, ``Total``/``Per-Page``
headers so pages are fetched concurrently. Both runs use the same page size, so what
grows is only what the item count costs. Peak RSS is the run's ``ru_maxrss`` from
``os.wait4`` in a small launcher (:func:`benchmarks._common.measure_process`), so the
benchmark process's own size never counts. Streaming means items go to the file page by page and are not kept, so
100x the items should cost (almost) no more memory than the small run; what does grow
is the set of ids that keeps every item exactly once (integer ids: about 9 bytes an
item, see :class:`task_runner.http.tally.IdentitySet`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks._common import Result, items_workflow, measure_process
from benchmarks._server import ChildItemServer

NAME, UNIT, GOAL, LIMIT = "memory", "x", "<= 1.2x", 1.2
#: Items per page in both runs: Procore's usual page size (the API allows up to 1,000+).
PER_PAGE = 100


def _workflow(directory: Path, base_url: str) -> Path:
    return items_workflow(
        directory / "memory.yaml",
        "bench-memory",
        base_url,
        per_page=PER_PAGE,
        paginate="all",
        jsonl=f"{directory}/out/items.jsonl",
    )


def _peak_rss_bytes(items: int, directory: Path) -> int:
    """Run the workflow in a child process; return its peak RSS in bytes."""
    # The server in a process of its own: a child's peak RSS counts the parent it was
    # forked from, so a parent holding the server's pages would inflate both runs.
    with ChildItemServer(total=items) as base_url:
        workflow = _workflow(directory, base_url)
        stderr_path = directory / "stderr.txt"
        done = measure_process(
            [sys.executable, "-m", "task_runner", "run", str(workflow), "--output", "json"],
            cwd=directory,
            stderr=stderr_path,
        )
    if done.code != 0:
        text = stderr_path.read_text(errors="replace")[-500:]
        raise RuntimeError(f"memory benchmark run failed ({done.code}): {text}")
    with open(directory / "out" / "items.jsonl", encoding="utf-8") as output:
        lines = sum(1 for _ in output)
    if lines != items:
        raise RuntimeError(f"expected {items} JSONL lines, found {lines}")
    return done.rss


def run(quick: bool) -> Result:
    large = 5_000 if quick else 100_000
    small = 1_000
    with tempfile.TemporaryDirectory() as tmp:
        small_rss = _peak_rss_bytes(small, Path(tmp) / "small")
        large_rss = _peak_rss_bytes(large, Path(tmp) / "large")
    ratio = large_rss / small_rss
    mib = 1024 * 1024
    return Result(
        NAME,
        ratio,
        UNIT,
        small_rss / mib,
        GOAL,
        None if quick else ratio <= LIMIT,
        measured=large_rss / mib,
        baseline_unit="MiB",
        detail=f"peak RSS: {large:,} items {large_rss / mib:.1f} MiB, "
        f"{small:,} items {small_rss / mib:.1f} MiB ({PER_PAGE} items of ~600 bytes a page)",
    )
