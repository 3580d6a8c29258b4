"""``task-runner add-task WORKFLOW --operation ID``: scaffold an HTTP task in a workflow."""

from __future__ import annotations

import argparse

from task_runner.cli.common import (
    add_definitions_option,
    add_output_option,
    definitions_dirs,
    dump_json,
    out,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "add-task",
        help="add an HTTP task for a catalogue operation to a workflow file",
        description="Add a task for OPERATION (see 'task-runner apis search'): required "
        "parameters become placeholders wired to new inputs, optional ones are listed as "
        "comments. Creates the file and a connection for the API when missing; keeps the "
        "file's existing content and comments.",
    )
    parser.add_argument(
        "workflow", metavar="WORKFLOW", help="the workflow file (created if missing)"
    )
    parser.add_argument(
        "--operation", "-o", required=True, metavar="ID", help="e.g. procore.images.list"
    )
    parser.add_argument(
        "--name", metavar="NAME", help="the task's name (default from the operation)"
    )
    parser.add_argument(
        "--connection",
        metavar="NAME",
        help="use (or create) this connection (default: the first one for the operation's API)",
    )
    add_output_option(parser)
    add_definitions_option(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from task_runner.catalogue import Catalogue
    from task_runner.scaffold import add_task

    catalogue = Catalogue.load(definitions_dirs(args))
    operation = catalogue.get(args.operation)
    result = add_task(
        Path(args.workflow),
        operation,
        name=args.name,
        connection=args.connection,
        profile=catalogue.profile(operation.api) if operation.api else None,
    )
    if args.output == "json":
        out(dump_json(result.to_json()))
        return 0
    verb = "created" if result.created_file else "updated"
    out(f"{verb} {result.path}: task {result.task} ({operation.method} {operation.path})")
    if result.created_connection:
        out(f"  connection {result.connection}: added (hosts from env, credentials from secrets)")
        if result.secrets:
            names = ", ".join(result.secrets)
            out(f"  secrets it reads: {names} (environment variables, or a .env file here)")
    else:
        out(f"  connection {result.connection}: existing")
    for param, name in result.placeholders.items():
        kind = result.new_inputs.get(name)
        note = f"new input ({kind})" if kind else "existing input"
        out(f"  {param}: {{{{ inputs.{name} }}}}  <- {note}")
    example = " ".join(f"-i {name}=VALUE" for name in dict.fromkeys(result.placeholders.values()))
    out("next: fill in the inputs and try it:")
    emulator = " --emulator" if result.emulated else ""
    out(
        f"  task-runner test-request {result.path} --task {result.task} {example}{emulator}".rstrip()
    )
    return 0
