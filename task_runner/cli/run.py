"""``task-runner run WORKFLOW``: run the whole workflow once."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from task_runner.cli.common import (
    add_definitions_option,
    add_input_option,
    add_output_option,
    definitions_dirs,
    dump_json,
    err,
    out,
    parse_inputs,
)

if TYPE_CHECKING:
    from task_runner.runner.result import RunResult, TaskResult


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "run",
        help="run the whole workflow once",
        description="Run every task of the workflow in dependency order. Exit 0 when all "
        "succeed, 1 when a task fails, 2 when the input is invalid (nothing is sent).",
    )
    parser.add_argument("workflow", metavar="WORKFLOW", help="the workflow file")
    add_input_option(parser)
    add_output_option(parser)
    add_definitions_option(parser)
    add_emulator_option(parser)
    parser.add_argument(
        "--max-workers", type=int, default=4, metavar="N", help="tasks run at once (default 4)"
    )
    add_state_dir_option(parser)
    parser.add_argument(
        "--run-id",
        metavar="ID",
        default=None,
        help="the run's id (default: a new one); run again with the id of an interrupted or "
        "failed run to resume it: for_each items it finished are not sent again",
    )
    parser.set_defaults(func=handle)


def add_emulator_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="start the built-in Procore emulator and point Procore connections at it",
    )


def add_state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        default=None,
        help="where the run history (state.db) lives (default: env TASK_RUNNER_STATE_DIR, "
        "else .task-runner under the current directory)",
    )


@contextlib.contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set the returned event: tasks stop after the page in flight, the run
    is recorded as interrupted (exit 130) and no partial output file is left. A second
    signal stops at once."""
    cancel = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err(
            f"{signal.Signals(signum).name}: stopping after the request in flight (again to stop now)"
        )

    if threading.current_thread() is not threading.main_thread():
        yield cancel  # signals can only be handled in the main thread (e.g. tests)
        return
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def handle(args: argparse.Namespace) -> int:
    import sys

    from task_runner.http.progress import TerminalProgress
    from task_runner.runner import ExecutionOptions
    from task_runner.runner.service import run_workflow_file
    from task_runner.state.history import resolve_state_dir
    from task_runner.workflow.loader import structure_checks_cached_in

    progress = TerminalProgress(sys.stderr)
    options = ExecutionOptions(
        max_workers=max(1, args.max_workers),
        progress=progress if progress.enabled else None,
        checkpoint_dir=str(resolve_state_dir(args.state_dir) / "fanout"),
    )
    try:
        # a workflow that passed the schema check in an earlier run skips it (and
        # jsonschema's import) when the workflow, schema and code are unchanged (see the loader)
        state = resolve_state_dir(args.state_dir)
        with graceful_stop() as cancel, structure_checks_cached_in(state):
            result = run_workflow_file(
                args.workflow,
                parse_inputs(args.inputs),
                definitions=definitions_dirs(args),
                options=options,
                emulator=args.emulator,
                state_dir=args.state_dir,
                trigger="manual",
                run_id=args.run_id,
                cancel=cancel,
            )
    finally:
        progress.done()
    if args.output == "json":
        out(dump_json(result.to_json()))
    else:
        print_summary(result)
    return result.exit_code


def completeness_line(task: TaskResult) -> str:
    """``complete: 250 of Total 250 item(s) delivered`` (or ``INCOMPLETE: ...``), with
    the duplicates dropped and the items an earlier window delivered, when any."""
    total = f" of Total {task.total_reported}" if task.total_reported is not None else ""
    word = "complete" if task.complete else "INCOMPLETE"
    line = f"{word}: {task.item_count}{total} item(s) delivered"
    if task.duplicates_dropped:
        line += f", {task.duplicates_dropped} duplicate(s) dropped"
    if task.already_delivered:
        line += f", {task.already_delivered} already delivered by an earlier window"
    return line


def fan_out_line(fan_out: Mapping[str, Any]) -> str:
    """``for_each: 250 item(s): 240 done (30 resumed), 10 failed`` (``first 1 of 250``
    when test-request ran only the first items)."""
    ran = int(fan_out.get("items") or 0)
    total = ran + int(fan_out.get("not_run") or 0)
    head = f"for_each: {total} item(s)"
    if fan_out.get("limit") is not None:
        head = f"for_each: ran the first {ran} of {total} item(s) (--items {fan_out['limit']})"
    line = f"{head}: {fan_out.get('done', 0)} done"
    if fan_out.get("resumed"):
        line += f" ({fan_out['resumed']} resumed from an earlier attempt of this run id)"
    line += f", {fan_out.get('failed', 0)} failed"
    return line


def print_summary(result: RunResult) -> None:
    """The run's text report: one line per task, its error below it."""
    out(f"run {result.run_id} of {result.workflow}: {result.status}")
    if result.window_start or result.window_end:
        out(f"  window {result.window_start} .. {result.window_end}")
    width = max((len(n) for n in result.tasks), default=4)
    for name, task in result.tasks.items():
        status = f"{task.http_status}" if task.http_status else "-"
        line = (
            f"  {name:<{width}}  {task.status:<11} {status:>4}  {task.pages} page(s)  "
            f"{task.item_count} item(s)  {len(task.attempts)} attempt(s)  {task.elapsed:.2f}s"
        )
        if task.output:
            line += f"  -> {task.output}"
        out(line)
        if task.fan_out is not None:
            out(f"    {fan_out_line(task.fan_out)}")
        elif task.complete is not None:
            out(f"    {completeness_line(task)}")
        for warning in task.warnings:
            out(f"    warning: {warning}")
        if task.error:
            out(f"    {task.error}")
    if result.error and not any(t.error for t in result.tasks.values()):
        out(f"error: {result.error}")  # otherwise the failing task's line already says it
