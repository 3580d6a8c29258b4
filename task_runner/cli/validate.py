"""``task-runner validate PATH...``"""

from __future__ import annotations

import argparse

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
        "All errors at once; exit code 2 when there is any.",
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
            out(error.format())
        if errors:
            err(
                f"{len(errors)} error(s) in {len({e.location.file for e in errors if e.location})} file(s)"
            )
        else:
            err(f"ok: {len(files)} workflow file(s) valid")
    return 2 if errors else 0
