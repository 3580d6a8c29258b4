"""The benchmarks' smoke run: every benchmark runs and reports in the agreed JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    "overhead",
    "pagination",
    "prepare",
    "startup",
    "memory",
    "scheduler",
    "celery",
    "catalogue",
]
GOALS = {
    "overhead": "<= 1.10x",
    "pagination": ">= 6x",
    "prepare": "<= 1.5x",
    "startup": "<= 1.3x",
    "memory": "<= 1.2x",
    "scheduler": "<= 1 s",
    "celery": ">= 1.8x",
    "catalogue": "<= 0.2 s (generate <= 30 s)",
}


@pytest.mark.timeout(120)
def test_quick_run_reports_every_benchmark_in_the_json_shape() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(done.stdout)
    results = payload["results"]
    assert [r["name"] for r in results] == NAMES
    for result in results:
        assert {"name", "value", "unit", "baseline", "goal", "meets"} <= result.keys()
        assert result["goal"] == GOALS[result["name"]]
        assert result["meets"] is None  # a smoke run judges no goal
        if result["skipped"]:
            assert result["value"] is None and result["skipped"].strip()
        else:
            assert isinstance(result["value"], float) and result["value"] > 0
            assert isinstance(result["baseline"], float) and result["baseline"] > 0
    ran = {r["name"] for r in results if not r["skipped"]}
    assert {"overhead", "pagination", "prepare", "startup", "memory", "catalogue"} <= ran


def test_unknown_benchmark_name_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "unknown benchmark" in done.stderr
