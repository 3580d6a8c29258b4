"""startup: ``task-runner validate`` on an example vs importing the libraries it needs.

Both sides are fresh interpreter subprocesses, timed wall-clock, median of N. The
baseline, ``python -c 'import requests, jinja2, jsonschema, yaml'``, is the floor any
tool built on those libraries pays; the ratio is what the CLI adds on top (its own
imports, loading the catalogue, parsing and checking the workflow).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from benchmarks._common import ROOT, Result, paired_times

NAME, UNIT, GOAL, LIMIT = "startup", "x", "<= 1.3x", 1.3
EXAMPLE = "examples/workflows/procore_images.yaml"
BASELINE = [sys.executable, "-c", "import requests, jinja2, jsonschema, yaml"]


def _command() -> list[str]:
    script = shutil.which("task-runner", path=os.path.dirname(sys.executable))
    entry = [script] if script else [sys.executable, "-m", "task_runner"]
    return [*entry, "validate", EXAMPLE]


def _call(command: list[str]) -> None:
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=60)


def run(quick: bool) -> Result:
    command = _command()
    repeats = 1 if quick else 11
    _call(command)  # warm the OS file cache and .pyc files on both sides
    _call(BASELINE)
    validate_time, baseline_time = paired_times(
        lambda: _call(command), lambda: _call(BASELINE), repeats
    )
    ratio = validate_time / baseline_time
    return Result(
        NAME,
        ratio,
        UNIT,
        baseline_time,
        GOAL,
        None if quick else ratio <= LIMIT,
        measured=validate_time,
        detail=f"median of {repeats}: `task-runner validate {EXAMPLE}` {validate_time:.3f}s, "
        f"bare imports {baseline_time:.3f}s",
    )
