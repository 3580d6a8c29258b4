"""celery: throughput of 2 Celery workers vs 1 on latency-bound workflows.

Uses the project's own harness, ``task_runner.distributed.bench.measure_scaling``: a
private ``redis-server``, the emulator with 0.5 s per request (latency-bound runs of 5
pages), real ``celery`` worker processes, the same batch of 8 runs submitted to 1 and then
2 workers. The figure is throughput(2) / throughput(1). Needs ``redis-server`` and the
``celery``/``redis`` packages; without them it is reported as skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import shutil

from benchmarks._common import Result, skipped

NAME, UNIT, GOAL, LIMIT = "celery", "x", ">= 1.8x", 1.8


def _missing() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server not installed"
    for module in ("celery", "redis"):
        if importlib.util.find_spec(module) is None:
            return f"python package {module!r} not installed"
    try:
        if importlib.util.find_spec("task_runner.distributed.bench") is None:
            return "task_runner.distributed.bench not available"
    except ImportError:
        return "task_runner.distributed.bench not available"
    return None


def run(quick: bool) -> Result:
    reason = _missing()
    if reason is not None:
        return skipped(NAME, UNIT, GOAL, reason)
    from task_runner.distributed.bench import measure_scaling

    runs, latency, pages = (2, 0.05, 1) if quick else (8, 0.5, 5)
    report = measure_scaling(runs=runs, latency=latency, pages=pages, workers=(1, 2))
    one, two = report["runs_per_second"][1], report["runs_per_second"][2]
    speedup = float(report["speedup"])
    return Result(
        NAME,
        speedup,
        UNIT,
        one,
        GOAL,
        None if quick else speedup >= LIMIT,
        measured=two,
        baseline_unit="runs/s",
        detail=f"{runs} runs of {pages} pages at {latency * 1000:.0f} ms: "
        f"1 worker {one:.2f} runs/s, 2 workers {two:.2f} runs/s",
    )
