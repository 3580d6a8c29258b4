"""``task-runner runs list`` / ``runs show RUN_ID``: the run history."""

from __future__ import annotations

import argparse
from typing import Any

from task_runner.cli.common import add_output_option, dump_json, out
from task_runner.cli.run import completeness_line


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "runs",
        help="run history",
        description="What ran, when, and how it ended: the history that run, schedule and "
        "workers record. A run whose process was killed shows 'running' until the next "
        "run or schedule starts, then 'abandoned'.",
    )
    runs_sub = parser.add_subparsers(dest="runs_command", metavar="SUBCOMMAND")
    list_parser = runs_sub.add_parser("list", help="the newest runs first")
    list_parser.add_argument("--workflow", metavar="NAME", help="only runs of this workflow")
    list_parser.add_argument(
        "--limit", type=int, default=20, metavar="N", help="at most N runs (default 20)"
    )
    _common(list_parser)
    list_parser.set_defaults(func=handle_list)
    show_parser = runs_sub.add_parser("show", help="one run and its task results")
    show_parser.add_argument("run_id", metavar="RUN_ID")
    _common(show_parser)
    show_parser.set_defaults(func=handle_show)
    parser.set_defaults(func=lambda args: _usage(parser))


def _common(parser: argparse.ArgumentParser) -> None:
    from task_runner.cli.run import add_state_dir_option

    add_output_option(parser)
    add_state_dir_option(parser)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def handle_list(args: argparse.Namespace) -> int:
    from task_runner.contract import runs_json
    from task_runner.state import History

    runs = runs_json(History.open(args.state_dir), workflow=args.workflow, limit=args.limit)
    if args.output == "json":
        out(dump_json(runs))
        return 0
    if not runs:
        out("no runs recorded")
        return 0
    width = max(len(r["workflow"]) for r in runs)
    out(
        f"{'ID':<26}  {'WORKFLOW':<{width}}  {'TRIGGER':<8}  {'STATUS':<11}  {'STARTED':<20}  ITEMS"
    )
    for r in runs:
        out(
            f"{r['id']:<26}  {r['workflow']:<{width}}  {r['trigger']:<8}  {r['status']:<11}  "
            f"{r['started_at']:<20}  {r['item_count']}"
            + (f"  {_first_line(r['error'])}" if r["error"] else "")
        )
    return 0


def handle_show(args: argparse.Namespace) -> int:
    from task_runner.contract import run_json
    from task_runner.state import History

    run = run_json(History.open(args.state_dir), args.run_id)
    if args.output == "json":
        out(dump_json(run))
        return 0
    _print_run(run)
    return 0


def _print_run(run: dict[str, Any]) -> None:
    out(f"run {run['id']} of {run['workflow']}: {run['status']}")
    for key in ("trigger", "scheduled_at", "started_at", "finished_at"):
        out(f"  {key + ':':<14}{run[key] or '-'}")
    out(f"  {'window:':<14}{run['window_start'] or '-'} .. {run['window_end'] or '-'}")
    if run["inputs"]:
        inputs = ", ".join(f"{k}={v}" for k, v in run["inputs"].items())
        out(f"  {'inputs:':<14}{inputs}")
    if run["error"]:
        out(f"  {'error:':<14}{run['error']}")
    for task in run["tasks"]:
        status = task["http_status"] or "-"
        line = (
            f"  task {task['task']}: {task['status']}  {status}  {task['pages']} page(s)  "
            f"{task['items']} item(s)  {task['attempts']} attempt(s)  {task['elapsed']:.2f}s"
        )
        for key in ("output", "recording"):
            if task[key]:
                line += f"  {key} {task[key]}"
        out(line)
        if task.get("complete") is not None:
            from task_runner.runner.result import TaskResult

            vouched = TaskResult.from_json(task["task"], {**task, "item_count": task["items"]})
            out(f"    {completeness_line(vouched)}")
        for warning in task.get("warnings") or ():
            out(f"    warning: {warning}")
        if task["error"]:
            out(f"    {task['error']}")


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""
