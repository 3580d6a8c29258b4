"""``task-runner apis``: list, search and show the API catalogue; generate definitions.

::

    task-runner apis list
    task-runner apis search "images sort"
    task-runner apis show procore.images.list [--output json]
    task-runner apis generate task_definitions/procore/reference/*.txt --api procore
    task-runner apis generate pets.yaml --api pets   # OpenAPI 3: definitions + profile
    task-runner apis generate --check          # exit 1 when committed files differ

``generate`` on an OpenAPI document skips (and reports, with their location) operations
it cannot import and exits 0 when at least one was imported; ``--strict`` makes any
skip an error (exit 2, nothing written).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.cli.common import (
    add_definitions_option,
    add_output_option,
    definitions_dirs,
    dump_json,
    err,
    out,
)
from task_runner.errors import UsageError

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.catalogue.generator import Generation
    from task_runner.catalogue.index import CatalogueEntry

__all__ = ["register"]

EXIT_DIFFERS = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("apis", help="the API catalogue: list, search, show, generate")
    sub = parser.add_subparsers(dest="apis_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("list", help="list every operation in the catalogue")
    _common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("search", help="find operations by id, path, summary or parameter name")
    p.add_argument("query", metavar="QUERY", help="words that must all match, e.g. 'images sort'")
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("show", help="show an operation's reference: its parameters and their rules")
    p.add_argument("operation", metavar="ID", help="an operation id, e.g. procore.images.list")
    _common(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "generate",
        help="API reference pages or OpenAPI 3 documents -> definitions and params schemas",
        description="Write task_definitions/<api>/<id>.json and schemas/<api>/<id>.schema.json "
        "for every operation of the given references, the API's index, and (OpenAPI, when "
        "the API has no hand-written one) task_definitions/<api>/profile.yaml. Operations "
        "that cannot be imported are skipped and listed. With --check and no REFERENCE, "
        "regenerate every committed definition from its recorded source and list the "
        "files that differ (exit 1).",
    )
    p.add_argument(
        "references",
        nargs="*",
        metavar="REFERENCE",
        help="a reference text page or an OpenAPI document",
    )
    p.add_argument("--api", help="the API name, e.g. procore (required with REFERENCE)")
    p.add_argument(
        "--out",
        default="task_definitions",
        metavar="DIR",
        help="definitions folder (default: task_definitions)",
    )
    p.add_argument(
        "--schemas-out",
        default="schemas",
        metavar="DIR",
        help="params schemas folder (default: schemas)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="compare instead of writing; exit 1 when anything differs",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="an operation that cannot be imported is an error (exit 2, nothing written) "
        "instead of being skipped",
    )
    add_output_option(p)
    p.set_defaults(func=cmd_generate)


def _common(parser: argparse.ArgumentParser) -> None:
    add_output_option(parser)
    add_definitions_option(parser)


def _catalogue(args: argparse.Namespace) -> Catalogue:
    from task_runner.catalogue import Catalogue

    return Catalogue.load(definitions_dirs(args))


def _summary_row(entry: CatalogueEntry) -> dict[str, str]:
    from task_runner.contract import entry_json

    return entry_json(entry)


def _print_rows(args: argparse.Namespace, entries: list[CatalogueEntry], empty: str) -> None:
    rows = [_summary_row(e) for e in entries]
    if args.output == "json":
        out(dump_json(rows))
        return
    if not rows:
        err(empty)
        return
    id_width = max(len(r["id"]) for r in rows)
    call_width = max(len(r["method"]) + 1 + len(r["path"]) for r in rows)
    for r in rows:
        call = f"{r['method']} {r['path']}"
        out(
            f"{r['id']:<{id_width}}  {call:<{call_width}}  {r['summary'].splitlines()[0] if r['summary'] else ''}".rstrip()
        )


def cmd_list(args: argparse.Namespace) -> int:
    _print_rows(args, _catalogue(args).entries(), "the catalogue is empty")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    _print_rows(
        args, _catalogue(args).search_entries(args.query), f"no operation matches {args.query!r}"
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    definition = _catalogue(args).get(args.operation)
    if args.output == "json":
        from task_runner.contract import operation_json

        out(dump_json(operation_json(definition)))
    else:
        from task_runner.catalogue.render import render_definition

        out(render_definition(definition))
    return 0


def _check_root() -> Path:
    """The folder whose committed files ``--check`` compares: here, or the project's."""
    here = Path.cwd()
    if (here / "task_definitions").is_dir():
        return here
    from task_runner.catalogue import repo_root

    return repo_root()


def cmd_generate(args: argparse.Namespace) -> int:
    from task_runner.catalogue import generator

    if args.check and not args.references:
        return _report_check(args, generator.check(_check_root()))
    if not args.references:
        raise UsageError(
            "name at least one REFERENCE, or use --check",
            hint="apis generate page.txt --api procore",
        )
    if not args.api:
        raise UsageError("--api is required with REFERENCE", hint="e.g. --api procore")
    sources = [Path(r) for r in args.references]
    out_dir, schemas_dir = Path(args.out), Path(args.schemas_out)
    generation = generator.prepare(sources, args.api, out_dir, schemas_dir, strict=args.strict)
    if args.check:
        differing = [
            str(p)
            for p, text in sorted(generation.files.items())
            if not p.is_file() or p.read_bytes() != text.encode("utf-8")
        ]
        return _report_check(args, sorted([*differing, *map(str, generation.stale)]))
    generator.write(generation)
    if args.output == "json":
        out(dump_json(_generation_json(generation)))
    else:
        _print_generation(generation, out_dir, args.api)
    return 0


def _generation_json(generation: Generation) -> dict[str, Any]:
    return {
        "status": "ok",
        "imported": generation.operations,
        "skipped": [e.to_dict() for e in generation.skipped],
        "notes": generation.notes,
        "profile": generation.profile.as_posix() if generation.profile else None,
        "kept_profile": generation.kept_profile.as_posix() if generation.kept_profile else None,
        "written": [p.as_posix() for p in sorted(generation.files)],
        "removed": [p.as_posix() for p in generation.stale],
    }


#: Up to this many written files are listed one by one; more are counted.
LIST_FILES = 20


def _print_generation(generation: Generation, out_dir: Path, api: str) -> None:
    written = sorted(generation.files)
    if len(written) <= LIST_FILES:
        for path in written:
            out(f"wrote {path.as_posix()}")
    else:
        folders = sorted({p.parent.as_posix() for p in written})
        out(f"wrote {len(written):,} files in {', '.join(folders)}")
    for path in generation.stale:
        out(f"removed {path.as_posix()} (its source no longer gives it)")
    if generation.profile:
        out(
            f"profile: {generation.profile.as_posix()} (generated; remove its first line to keep edits)"
        )
    if generation.kept_profile:
        out(f"profile: {generation.kept_profile.as_posix()} (hand-written, kept as it is)")
    skipped = generation.skipped
    summary = (
        f"imported {generation.operations:,} operation{'s' if generation.operations != 1 else ''}"
    )
    out(summary + (f", skipped {len(skipped):,}:" if skipped else ""))
    for error in skipped:
        out(f"  {error.format()}")
    for note in dict.fromkeys(generation.notes):
        err(f"note: {note}")
    _hint_catalogue_folder(out_dir, api)


def _hint_catalogue_folder(out_dir: Path, api: str) -> None:
    """Say how to reach definitions written outside the folders the catalogue reads."""
    from task_runner.catalogue import builtin_definitions_dir
    from task_runner.cli.common import definitions_dirs

    known = [builtin_definitions_dir(), *(Path(d) for d in definitions_dirs(argparse.Namespace()))]
    if any(out_dir.resolve() == k.resolve() for k in known):
        return
    err(
        f"note: {out_dir.as_posix()} is not a catalogue folder yet: pass --definitions "
        f"{out_dir.as_posix()} (or set TASK_RUNNER_DEFINITIONS) to add-task, validate, "
        f"test-request and run to use the {api!r} operations"
    )


def _report_check(args: argparse.Namespace, differing: list[str]) -> int:
    if args.output == "json":
        out(dump_json({"status": "differs" if differing else "ok", "differing": differing}))
    elif differing:
        err(
            "these files differ from what generation gives (run 'task-runner apis generate' and commit):"
        )
        for path in differing:
            err(f"  {path}")
    else:
        out("generated files are up to date")
    return EXIT_DIFFERS if differing else 0
