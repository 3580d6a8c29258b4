"""Run the benchmarks: ``python -m benchmarks [--quick] [--output json] [--only NAME]``.

Each figure is a ratio against a baseline measured in the same run on the same machine.
``--quick`` is a smoke run for CI: small sizes, checks that every benchmark runs, judges
no goal (``meets`` is null). A benchmark that cannot run here (no Redis, no scheduler)
is reported as skipped with the reason; one that crashes is reported as an error and
makes the exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import traceback
from typing import Any

from benchmarks._common import Result, skipped

#: (result name, module) in report order.
BENCHMARKS = (
    ("overhead", "benchmarks.overhead"),
    ("pagination", "benchmarks.pagination"),
    ("prepare", "benchmarks.prepare"),
    ("startup", "benchmarks.startup"),
    ("memory", "benchmarks.memory"),
    ("scheduler", "benchmarks.scheduler"),
    ("soak", "benchmarks.soak"),
    ("celery", "benchmarks.celery_scaling"),
    ("catalogue", "benchmarks.catalogue"),
    ("throughput", "benchmarks.throughput"),
    ("lsp", "benchmarks.lsp"),
    ("fanout", "benchmarks.fanout"),
)


def _run_one(module_name: str, quick: bool) -> tuple[list[Result], bool]:
    """A benchmark's results: one, or one per goal (``throughput`` judges several)."""
    module = importlib.import_module(module_name)
    try:
        found = module.run(quick)
        return (found if isinstance(found, list) else [found]), True
    except Exception as exc:  # report it and keep measuring the others
        traceback.print_exc(file=sys.stderr)
        reason = f"error: {type(exc).__name__}: {exc}"
        goal = getattr(module, "GOAL", "")
        return [skipped(module.NAME, module.UNIT, goal, reason)], False


def machine() -> dict[str, Any]:
    import os

    memory = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = round(pages / 1024**3, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} {unit}" if unit != "s" else f"{value:.3f} s"


def table(results: list[Result], quick: bool) -> str:
    rows = [("benchmark", "value", "goal", "meets", "detail")]
    for r in results:
        meets = (
            "skipped" if r.skipped else ("n/a" if r.meets is None else "yes" if r.meets else "NO")
        )
        rows.append((r.name, _cell(r.value, r.unit), r.goal, meets, r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row))
        for row in rows
    ]
    info = machine()
    lines.append("")
    lines.append(
        f"machine: {info['cpus']} CPUs, {info['memory_gib']} GiB, Python {info['python']}, "
        f"{info['platform']}" + ("  (quick smoke run: goals not judged)" if quick else "")
    )
    # Side-by-side figures behind a result (throughput's contenders), each table once.
    shown: list[list[str]] = []
    for r in results:
        extra_table = r.extra.get("table")
        if extra_table and extra_table not in shown:
            shown.append(extra_table)
            lines += ["", *extra_table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, no goals")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these")
    args = parser.parse_args(argv)
    wanted = set(args.only or [name for name, _ in BENCHMARKS])
    unknown = wanted - {name for name, _ in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    results: list[Result] = []
    ok = True
    for name, module in BENCHMARKS:
        if name not in wanted:
            continue
        if args.output == "text":
            print(f"running {name}...", file=sys.stderr, flush=True)
        found, ran = _run_one(module, args.quick)
        results.extend(found)
        ok = ok and ran
    if args.output == "json":
        payload = {
            "quick": args.quick,
            "machine": machine(),
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(table(results, args.quick))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
