"""memory: peak RSS of a run streaming 100,000 items to JSONL vs one of 1,000 items.

Each run is a fresh ``task-runner run`` subprocess against a local listing server in
this process (items generated on the fly, 1,000 per page, ``Total``/``Per-Page``
headers so pages are fetched concurrently). Peak RSS is the child's ``ru_maxrss`` from
``os.wait4``. Streaming means items go to the file page by page and are not kept, so
100x the items should cost (almost) no more memory than the small run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._common import Result, items_workflow
from benchmarks._server import ItemServer

NAME, UNIT, GOAL, LIMIT = "memory", "x", "<= 1.2x", 1.2
PER_PAGE = 1_000


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
    with ItemServer(total=items) as server:
        workflow = _workflow(directory, server.url)
        stderr_path = directory / "stderr.txt"
        with open(stderr_path, "wb") as stderr:  # a file, not a pipe: wait4 cannot deadlock
            child = subprocess.Popen(
                [sys.executable, "-m", "task_runner", "run", str(workflow), "--output", "json"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=directory,
            )
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        text = stderr_path.read_text(errors="replace")[-500:]
        raise RuntimeError(f"memory benchmark run failed ({child.returncode}): {text}")
    with open(directory / "out" / "items.jsonl", encoding="utf-8") as output:
        lines = sum(1 for _ in output)
    if lines != items:
        raise RuntimeError(f"expected {items} JSONL lines, found {lines}")
    # ru_maxrss is KiB on Linux, bytes on macOS
    return usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024


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
        f"{small:,} items {small_rss / mib:.1f} MiB",
    )
