"""What every benchmark shares: the result record, timing helpers, workflow files.

Every figure is a ratio against a baseline measured in the same run on the same
machine, because absolute times drift on shared machines while ratios mostly do not.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ROOT",
    "Measured",
    "Result",
    "items_workflow",
    "measure_process",
    "paired_times",
    "skipped",
    "write_file",
]

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """One benchmark's figure. ``value`` and ``baseline`` are None when skipped.

    ``meets`` is None when the goal was not judged: a skipped benchmark, or a
    ``--quick`` smoke run whose toy sizes say nothing about speed.
    """

    name: str
    value: float | None
    unit: str
    baseline: float | None
    goal: str
    meets: bool | None
    measured: float | None = None  # the absolute figure behind the ratio
    baseline_unit: str = "s"
    detail: str = ""
    skipped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = _round(self.value)
        data["baseline"] = _round(self.baseline)
        data["measured"] = _round(self.measured)
        return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def skipped(name: str, unit: str, goal: str, reason: str) -> Result:
    return Result(name, None, unit, None, goal, None, detail=reason, skipped=reason)


def paired_times(
    subject: Callable[[], object], baseline: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median wall times of ``subject`` and ``baseline``, run alternately.

    Alternating (A B A B ...) means a slow spell on a shared machine hits both sides
    alike, so their ratio is steadier than that of two separate batches.
    """
    subject_times: list[float] = []
    baseline_times: list[float] = []
    for _ in range(max(1, repeats)):
        for action, times in ((subject, subject_times), (baseline, baseline_times)):
            started = time.perf_counter()
            action()
            times.append(time.perf_counter() - started)
    return statistics.median(subject_times), statistics.median(baseline_times)


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def items_workflow(
    path: Path,
    name: str,
    base_url: str,
    *,
    per_page: int,
    max_concurrency: int | None = None,
    paginate: str | None = None,
    jsonl: str | None = None,
    schedule: str | None = None,
) -> Path:
    """Write a workflow with one task ``fetch``: ``GET /items?per_page=N`` on a connection
    ``local`` at ``base_url`` (the :class:`~benchmarks._server.ItemServer`). ``paginate``,
    ``schedule`` (YAML flow text) and the ``jsonl`` output are added when given, and
    ``max_concurrency`` caps the connection."""
    lines = [f"name: {name}"]
    if schedule is not None:
        lines.append(f"schedule: {schedule}")
    lines += ["connections:", "  local:", f'    base_url: "{base_url}"']
    if max_concurrency is not None:
        lines.append(f"    max_concurrency: {max_concurrency}")
    lines += [
        "tasks:",
        "  fetch:",
        "    connection: local",
        f"    request: {{method: GET, url: /items, query: {{per_page: {per_page}}}}}",
    ]
    if paginate is not None:
        lines.append(f"    paginate: {paginate}")
    if jsonl is not None:
        lines += ["    output:", f'      jsonl: "{jsonl}"']
    return write_file(path, "\n".join(lines) + "\n")


@dataclass
class Measured:
    """A finished process: wall and CPU seconds, peak RSS in bytes, exit code."""

    wall: float
    cpu: float
    rss: int
    code: int


#: Forks and execs the command given after the result file, waits for it with ``wait4``
#: and writes ``wall cpu maxrss code`` to the result file. Run with ``python -S`` so it
#: stays a few MiB: a child's ``ru_maxrss`` counts the memory of the process it was
#: forked from, so forking the measured command straight from a benchmark process that
#: holds pages or imported modules would put that process's size under every figure.
_LAUNCHER = """
import os, sys, time
result, args = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(args[0], args)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(result, "w") as out:
    cpu = usage.ru_utime + usage.ru_stime
    out.write(f"{wall} {cpu} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def measure_process(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
    stderr: Path | None = None,
) -> Measured:
    """Run ``command`` to its end and measure it (see :data:`_LAUNCHER`). Output goes to
    the files given (files, not pipes: nothing can block on a full pipe)."""
    with tempfile.TemporaryDirectory(prefix="bench-measure-") as tmp:
        result = Path(tmp) / "result"
        out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
        err = open(stderr, "wb") if stderr else subprocess.DEVNULL  # noqa: SIM115
        try:
            subprocess.run(
                [sys.executable, "-S", "-c", _LAUNCHER, str(result), *command],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                check=True,
            )
        finally:
            for handle in (out, err):
                if not isinstance(handle, int):
                    handle.close()
        wall, cpu, rss, code = result.read_text().split()
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
    return Measured(float(wall), float(cpu), int(rss) * scale, int(code))
