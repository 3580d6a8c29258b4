"""scheduler: lateness p99 of 1,000 ``every:`` workflows on the embedded scheduler.

Lateness is how long after its due time a run actually starts. Until the embedded
scheduler is importable this reports "skipped" with the reason: never a made-up number.
"""

from __future__ import annotations

import importlib.util

from benchmarks._common import Result, skipped

NAME, UNIT, GOAL, LIMIT = "scheduler", "s", "<= 1 s", 1.0
CANDIDATES = ("task_runner.scheduling", "task_runner.scheduler")


def _module() -> str | None:
    for name in CANDIDATES:
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ImportError:
            continue
    return None


def run(quick: bool) -> Result:
    found = _module()
    if found is None:
        return skipped(NAME, UNIT, GOAL, "scheduler not available (no task_runner.scheduling)")
    return skipped(NAME, UNIT, GOAL, f"{found} found, but this benchmark does not drive it yet")
