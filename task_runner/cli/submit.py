"""``task-runner submit WORKFLOW``: send a run to the Celery workers (and wait for it)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

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


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "submit",
        help="send a run to the Celery workers",
        description="Validate the workflow here (exit 2 on input mistakes, nothing is "
        "enqueued), enqueue one run for the Celery workers (start them with `celery -A "
        "task_runner.celery_app worker`) and print its run id. With --wait, print the run's "
        "result like `run` does and exit with its exit code. Broker: env "
        "TASK_RUNNER_BROKER_URL (default redis://127.0.0.1:6379/0).",
    )
    parser.add_argument("workflow", metavar="WORKFLOW", help="the workflow file")
    add_input_option(parser)
    add_output_option(parser)
    add_definitions_option(parser)
    parser.add_argument("--wait", action="store_true", help="wait for the run and print its result")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="with --wait: give up after S seconds (exit 1; the run goes on)",
    )
    parser.add_argument(
        "--queue", default=None, metavar="NAME", help="the Celery queue (env TASK_RUNNER_QUEUE)"
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from task_runner.errors import UsageError

    if args.timeout is not None and not args.timeout > 0:  # also refuses nan
        raise UsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
    definitions = definitions_dirs(args)
    name, inputs = _check_locally(args.workflow, parse_inputs(args.inputs), definitions)

    from task_runner.distributed.dispatch import submit, wait_for

    run_id = submit(args.workflow, inputs, definitions=definitions, queue=args.queue)
    if not args.wait:
        if args.output == "json":
            out(dump_json({"run_id": run_id, "task_id": run_id, "workflow": name}))
        else:
            out(f"submitted run {run_id} of {name}")
        return 0
    err(f"submitted run {run_id} of {name}; waiting for a worker")
    return _report(wait_for(run_id, timeout=args.timeout), args.output)


def _check_locally(
    path: str, given: Mapping[str, Any], definitions: list[str]
) -> tuple[str, dict[str, Any]]:
    """Load the workflow and resolve its inputs here: a mistake is exit 2, before enqueuing.

    Returns the workflow's name and the given inputs read by their declared types, so the
    worker gets typed JSON values (``777``, never the text ``0777``) to run with.
    """
    from task_runner.workflow import load_workflow
    from task_runner.workflow.prepare import resolve_inputs

    workflow = load_workflow(path, definitions=definitions)
    values = resolve_inputs(workflow, given)
    return workflow.name, {k: v for k, v in values.items() if k in given}


def _report(data: dict[str, Any], output: str) -> int:
    """Print a worker's answer like ``run`` would and return its exit code."""
    from task_runner.cli.run import print_summary
    from task_runner.runner.result import RunResult

    if output == "json":
        out(dump_json(data))
    if data.get("status") == "error":
        err(str(data.get("message") or "the run could not start"))
        return int(data.get("exit_code") or 1)
    result = RunResult.from_json(data)
    if output != "json":
        print_summary(result)
        if result.status == "skipped" and result.error:
            out(f"  {result.error}")
    return 0 if result.status == "skipped" else result.exit_code
