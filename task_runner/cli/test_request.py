"""``task-runner test-request WORKFLOW --task NAME``: run one task, show and record it."""

from __future__ import annotations

import argparse

from task_runner.cli.common import (
    add_definitions_option,
    add_input_option,
    add_output_option,
    definitions_dirs,
    dump_json,
    out,
    parse_inputs,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "test-request",
        help="run one task from the editor, show the response and record it",
        description="Run one task of a workflow and show its request and response. "
        "With --dry-run, print the fully prepared request and a curl equivalent "
        "(secrets as ***) and send nothing, not even a token request.",
    )
    parser.add_argument("workflow", metavar="WORKFLOW", help="the workflow file")
    parser.add_argument("--task", "-t", required=True, metavar="NAME", help="the task to run")
    parser.add_argument(
        "--dry-run", action="store_true", help="prepare and print the request; send nothing"
    )
    add_input_option(parser)
    add_output_option(parser)
    add_definitions_option(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if args.dry_run:
        return dry_run(args)
    from task_runner.errors import UsageError

    raise UsageError("test-request without --dry-run is not available yet")


def dry_run(args: argparse.Namespace) -> int:
    from task_runner.catalogue import Catalogue
    from task_runner.workflow import Preparer, RunContext, load_workflow, resolve_inputs
    from task_runner.workflow.display import curl_command, request_as_dict, request_lines
    from task_runner.workflow.templating import PlaceholderSecrets

    workflow = load_workflow(args.workflow, catalogue=Catalogue.load(definitions_dirs(args)))
    task = workflow.task(args.task)
    inputs = resolve_inputs(workflow, parse_inputs(args.inputs))
    preparer = Preparer(
        workflow,
        inputs,
        RunContext.now(workflow.name, lookback=workflow.window.initial_lookback),
        secrets=PlaceholderSecrets(),
    )
    if task.references:
        from task_runner.errors import TemplateError

        upstream = sorted(task.references)[0]
        raise TemplateError(
            f"task {args.task!r} reads tasks.{upstream}.output; a dry run sends nothing, so "
            f"run `task-runner test-request {args.workflow} --task {upstream}` first to record it",
            location=task.location,
            task=args.task,
        )
    prepared = preparer.prepare(args.task)
    if args.output == "json":
        payload = {
            "task": args.task,
            "dry_run": True,
            "request": request_as_dict(prepared.request, prepared.connection),
            "curl": curl_command(prepared.request, prepared.connection),
        }
        out(dump_json(payload))
        return 0
    for line in request_lines(prepared.request, prepared.connection):
        out(line)
    out("")
    out("# the same request with curl (secrets shown as ***):")
    out(curl_command(prepared.request, prepared.connection))
    return 0
