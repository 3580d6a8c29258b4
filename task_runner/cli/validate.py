"""``task-runner validate PATH...``"""

from __future__ import annotations

import argparse
import logging
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
        "validate",
        help="check workflow files; report every mistake as file:line:col: path: message",
        description="Check workflow files (or every *.yaml under folders) against the workflow "
        "schema, the operations' parameter schemas, and their templates and references. "
        "All errors at once, on stderr, and exit code 2 when there is any; otherwise an ok "
        "line, and each schedule with its next five fire times, on stdout. --output json "
        "prints the list of errors (empty when valid) on stdout instead.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="workflow files or folders")
    add_input_option(parser)
    add_output_option(parser)
    add_definitions_option(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from task_runner.catalogue import Catalogue
    from task_runner.workflow.validate import validate_paths

    catalogue = Catalogue.load(definitions_dirs(args))
    files, errors = validate_paths(
        args.paths, inputs=parse_inputs(args.inputs), catalogue=catalogue
    )
    if args.output == "json":
        out(dump_json([e.to_dict() for e in errors]))
    else:
        for error in errors:
            err(error.format(), level=logging.ERROR)
        if errors:
            where = len({e.location.file for e in errors if e.location})
            err(f"{len(errors)} error(s) in {where} file(s)", level=logging.ERROR)
        else:
            out(f"ok: {len(files)} workflow file(s) valid")
        _print_schedules(files, errors, catalogue)
    return 2 if errors else 0


def _print_schedules(files: list[Any], errors: list[Any], catalogue: Any) -> None:
    """For each valid file with a schedule: what it means and its next five fire times
    in its time zone (stdout, results beside the ok line; ``schedule --list --output
    json`` has them as data)."""
    import datetime as dt

    from task_runner.errors import TaskRunnerError
    from task_runner.scheduling.listing import describe_schedule, format_entry
    from task_runner.workflow import load_workflow

    failed = {str(e.location.file) for e in errors if e.location}
    now = dt.datetime.now(dt.timezone.utc)
    for path in files:
        if str(path) in failed:
            continue
        try:
            entry = describe_schedule(load_workflow(path, catalogue=catalogue), now)
        except TaskRunnerError:
            continue  # reported above
        if entry is not None:
            out("\n".join(format_entry(entry)))
