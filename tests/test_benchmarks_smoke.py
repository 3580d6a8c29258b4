"""The benchmarks' smoke run: every benchmark runs and reports in the agreed JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Result names with their goals, in report order. A benchmark may report several
#: results (``startup`` two, ``throughput`` one per goal of issue 15); results of
#: benchmarks not listed here are checked for their shape only.
GOALS = {
    "overhead": "<= 1.10x",
    "pagination": ">= 6x",
    "prepare": "<= 1.5x",
    "startup": "<= 1.3x",
    "first-request": "<= 1.2x",
    "memory": "<= 1.2x",
    "scheduler": "<= 1 s",
    "soak": "<= 1.10x",
    "celery": ">= 1.8x",
    "catalogue": "<= 0.2 s (generate <= 30 s)",
    "throughput-cpu-vs-bare": "<= 1.0x",
    "throughput-cpu-vs-asyncio": "<= 1.3x",
    "throughput-latency-vs-asyncio": "<= 1.1x",
    "throughput-scale-vs-asyncio": "<= 1.3x",
    "throughput-scale-rss": "<= 1.2x",
    "throughput-vs-dlt": ">= 3x",
    "lsp": "<= 50 ms (start <= 1 s)",
    "fanout": "<= 1.3x",
    "duckdb_merge": "<= 2.0x",
}
#: Results that run on any machine (the others may be skipped: no Redis, no dlt...).
ALWAYS = {
    "overhead",
    "pagination",
    "prepare",
    "startup",
    "first-request",
    "memory",
    "catalogue",
    "throughput-cpu-vs-bare",
    "throughput-scale-rss",
    "lsp",
    "soak",
    "fanout",
    "duckdb_merge",
}


@pytest.mark.timeout(300)
def test_quick_run_reports_every_benchmark_in_the_json_shape() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=290,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(done.stdout)
    results = payload["results"]
    names = [r["name"] for r in results]
    assert [n for n in names if n in GOALS] == list(GOALS)
    assert len(names) == len(set(names))
    for result in results:
        assert {"name", "value", "unit", "baseline", "goal", "meets"} <= result.keys()
        if result["name"] in GOALS:
            assert result["goal"] == GOALS[result["name"]]
        assert result["meets"] is None  # a smoke run judges no goal
        if result["skipped"]:
            assert result["value"] is None and result["skipped"].strip()
        else:
            assert isinstance(result["value"], float) and result["value"] > 0
            assert isinstance(result["baseline"], float) and result["baseline"] > 0
    ran = {r["name"] for r in results if not r["skipped"]}
    assert not ALWAYS - ran, ALWAYS - ran


def test_throughput_table_names_every_contender_or_why_it_was_skipped() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "throughput"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for scenario in ("latency:", "cpu:", "scale:"):
        assert scenario in done.stdout
    for contender in ("task-runner (default)", "bare requests loop", "aiohttp c10", "dlt"):
        assert contender in done.stdout
    assert "wall" in done.stdout and "CPU" in done.stdout and "peak RSS" in done.stdout


def test_unknown_benchmark_name_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "unknown benchmark" in done.stderr
