"""``task-runner recordings list|show|har``: look again at what test-request recorded."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from task_runner.cli.common import add_output_option, dump_json, out

if TYPE_CHECKING:
    from task_runner.recording.store import RecordingStore


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "recordings",
        help="list, show and export the recordings test-request wrote",
        description="Recordings are JSON files under recordings/<workflow>/<task>/ (or "
        "--record-dir). RECORDING is a file, or WORKFLOW/TASK for the latest of a task.",
    )
    commands = parser.add_subparsers(dest="recordings_command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="recordings, oldest first")
    listing.add_argument(
        "workflow", nargs="?", metavar="WORKFLOW", help="only this workflow (name or file)"
    )
    _root_option(listing)
    add_output_option(listing)
    listing.set_defaults(func=handle_list)

    show = commands.add_parser("show", help="print one recording")
    show.add_argument("recording", metavar="RECORDING")
    _root_option(show)
    add_output_option(show)
    show.set_defaults(func=handle_show)

    har = commands.add_parser(
        "har", help="a recording as HAR 1.2 (browser dev tools, HTTP clients)"
    )
    har.add_argument("recording", metavar="RECORDING")
    har.add_argument("--out", metavar="FILE", default=None, help="write to FILE (default: stdout)")
    _root_option(har)
    har.set_defaults(func=handle_har)


def _root_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--record-dir",
        metavar="DIR",
        default=None,
        help="where recordings are kept (default: recordings/)",
    )


def _store(args: argparse.Namespace) -> RecordingStore:
    from task_runner.recording.store import DEFAULT_ROOT, RecordingStore

    return RecordingStore(args.record_dir or DEFAULT_ROOT)


def _workflow_name(ref: str | None) -> str | None:
    """A workflow file's ``name:`` (read without the catalogue), or ``ref`` as a name."""
    from pathlib import Path

    if ref is None or not Path(ref).is_file():
        return ref
    import yaml

    try:
        data = yaml.safe_load(Path(ref).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return Path(ref).stem
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else Path(ref).stem


def handle_list(args: argparse.Namespace) -> int:
    store = _store(args)
    infos = store.list(_workflow_name(args.workflow))
    if args.output == "json":
        out(dump_json({"root": str(store.root), "recordings": [i.to_json() for i in infos]}))
        return 0
    if not infos:
        out(f"no recordings under {store.root}")
        return 0
    for info in infos:
        status = info.http_status if info.http_status is not None else "-"
        out(
            f"{info.recorded_at}  {info.workflow}/{info.task}  {info.status or '?':<9} "
            f"{status}  {info.path}"
        )
    return 0


def handle_show(args: argparse.Namespace) -> int:
    store = _store(args)
    path = store.resolve(args.recording)
    data = store.load(path)
    if args.output == "json":
        out(dump_json({"path": str(path), **data}))
        return 0
    import json

    from task_runner.cli.test_request import body_lines

    result = data.get("result") or {}
    request = data.get("request") or {}
    out(f"recording {path}")
    out(
        f"workflow {data.get('workflow')}  task {data.get('task')}  "
        f"operation {data.get('operation')}  recorded {data.get('recorded_at')}"
    )
    out(f"inputs: {json.dumps(data.get('inputs', {}))}")
    out(
        f"result: {result.get('status')}" + (f" ({result['error']})" if result.get("error") else "")
    )
    out("")
    out(f"{request.get('method')} {request.get('url')}")
    for name, value in (request.get("headers") or {}).items():
        out(f"{name}: {value}")
    for response in data.get("responses", []):
        out("")
        out(f"page {response.get('page')}: {response.get('status')} {response.get('reason', '')}")
        lines, note = body_lines(response.get("body"), full=False)
        for line in lines:
            out(line)
        if note:
            out(note)
    attempts = data.get("attempts", [])
    out("")
    out(f"{len(attempts)} attempt(s):")
    for attempt in attempts:
        what = attempt.get("status") or attempt.get("error")
        out(
            f"  #{attempt.get('number')} {attempt.get('started_at')} {what} {attempt.get('elapsed')}s"
        )
    return 0


def handle_har(args: argparse.Namespace) -> int:
    from task_runner.recording.har import har_text, to_har, write_har

    store = _store(args)
    har = to_har(store.load(args.recording))
    if args.out:
        path = write_har(har, args.out)
        out(f"wrote {path}")
    else:
        out(har_text(har).rstrip("\n"))
    return 0
