"""startup: what a run costs before and around its first request.

* ``startup``: ``task-runner validate`` on an example vs importing the libraries it
  needs. Both sides are fresh interpreter subprocesses, timed wall-clock, median of N.
  The baseline, ``python -c 'import requests, jinja2, jsonschema, yaml'``, is the floor
  any tool built on those libraries pays; the ratio is what the CLI adds on top (its own
  imports, loading the catalogue, parsing and checking the workflow).
* ``first-request``: a small incremental pull as a whole process, ``task-runner run``
  of one task (OAuth2 token, one page of 100 items, JSONL out) vs the bare ``requests``
  script of :mod:`benchmarks._contenders` doing the same, against the same loopback
  server, interleaved. Issue 15's fixed-cost goal: at most 1.2x. Each run starts from
  an empty state directory (a first run: the database is created, a token fetched).
* ``first-request-repeat``: the same run repeated with one state directory kept from
  run to run, as a scheduled incremental pull runs: the OAuth2 token comes from the
  token store and the workflow's schema check is remembered (no jsonschema import).
  Measured in the same rounds as the two above, against the same bare script.

Byte-code is compiled once and reused on both sides (see
:func:`benchmarks.throughput.bytecode_env`), as an installed wheel has it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._common import ROOT, Result, paired_times
from benchmarks._server import ChildItemServer

if TYPE_CHECKING:
    from benchmarks.throughput import Contender

NAME, UNIT, GOAL, LIMIT = "startup", "x", "<= 1.3x", 1.3
FIRST_GOAL, FIRST_LIMIT = "<= 1.2x", 1.2
EXAMPLE = "examples/workflows/procore_images.yaml"
BASELINE = [sys.executable, "-c", "import requests, jinja2, jsonschema, yaml"]


def _command() -> list[str]:
    script = shutil.which("task-runner", path=os.path.dirname(sys.executable))
    entry = [script] if script else [sys.executable, "-m", "task_runner"]
    return [*entry, "validate", EXAMPLE]


def _call(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=60, env=env)


def _validate(quick: bool, env: dict[str, str]) -> Result:
    command = _command()
    repeats = 1 if quick else 11
    _call(command, env)  # warm the OS file cache and the byte-code on both sides
    _call(BASELINE, env)
    validate_time, baseline_time = paired_times(
        lambda: _call(command, env), lambda: _call(BASELINE, env), repeats
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


def _repeated(state: Path) -> Contender:
    """``task-runner run`` with ``--state-dir state``, the same directory every run."""
    from benchmarks import throughput

    first = throughput._runner("", None)

    def command(base_url: str, directory: Path) -> list[str]:
        return [*first.command(base_url, directory), "--state-dir", str(state)]

    return throughput.Contender("task-runner run, repeated", command, first.count)


def _first_request(quick: bool, tmp: Path) -> list[Result]:
    from benchmarks import throughput

    pull = throughput.Scenario("first-request", 1, 0.0, 1 if quick else 9, "one page")
    ours = throughput._runner("task-runner run", None)
    again = _repeated(tmp / "repeat-state")
    bare = throughput._script("bare requests script", "bare", 1, None)
    contenders = [ours, again, bare]
    with ChildItemServer(total=throughput.PER_PAGE, oauth=True) as base_url:
        warm = throughput.Scenario("first-request-warm", 1, 0.0, 1, "")
        throughput._play(warm, contenders, base_url, tmp)  # byte-code, file cache, state
        for contender in contenders:
            contender.runs.clear()
        throughput._play(pull, contenders, base_url, tmp)
    theirs = bare.median()
    assert theirs is not None
    results = []
    for name, contender, what in (
        ("first-request", ours, "from an empty state directory"),
        ("first-request-repeat", again, "again, with the state directory of the run before"),
    ):
        mine = contender.median()
        assert mine is not None
        ratio = mine.wall / theirs.wall
        results.append(
            Result(
                name,
                ratio,
                UNIT,
                theirs.wall,
                FIRST_GOAL,
                None if quick else ratio <= FIRST_LIMIT,
                measured=mine.wall,
                detail=f"median of {pull.repeats}: OAuth2 token + 1 page of 100 items to "
                f"JSONL, `task-runner run` {what} {mine.wall:.3f}s (CPU {mine.cpu:.3f}s), "
                f"bare requests script {theirs.wall:.3f}s (CPU {theirs.cpu:.3f}s)",
            )
        )
    return results


def run(quick: bool) -> list[Result]:
    from benchmarks.throughput import bytecode_env

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = bytecode_env(Path(tmp) / "pycache")
        return [_validate(quick, env), *_first_request(quick, Path(tmp))]
