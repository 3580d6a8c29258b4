"""``task-runner recordings list|show|har|schema|diff``: look again at what test-request
recorded -- its items' JSON Schema, and how two recordings of a task differ (drift).

Also the options test-request takes to review a run against its recordings
(:func:`add_review_options`, :func:`review`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from task_runner.cli.common import add_output_option, dump_json, out

if TYPE_CHECKING:
    from task_runner.recording.followup import FollowUp
    from task_runner.recording.session import TaskOutcome
    from task_runner.recording.store import RecordingStore
    from task_runner.workflow.model import Workflow


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

    schema = commands.add_parser(
        "schema",
        help="the JSON Schema of a recording's items (inferred with genson)",
        description="Infer the JSON Schema of the items of RECORDING's pages (WORKFLOW/TASK: "
        "its latest recording). test-request --save-schema keeps it as the task's response "
        "schema, which `expect: {schema: stored}` checks.",
    )
    schema.add_argument("recording", metavar="RECORDING")
    schema.add_argument(
        "--all", action="store_true", help="merge the items of every recording of that task"
    )
    schema.add_argument(
        "--out", metavar="FILE", default=None, help="write to FILE (default: stdout)"
    )
    _root_option(schema)
    schema.set_defaults(func=handle_schema)

    diff = commands.add_parser(
        "diff",
        help="how two recordings differ: fields, status, headers, item counts",
        description="Compare recording A with B: fields added, removed or changed type "
        "(from the schemas of their items), status and header changes, item counts. "
        "Without B, A is compared with the recording of its task before it.",
    )
    diff.add_argument("before", metavar="A")
    diff.add_argument("after", metavar="B", nargs="?", default=None)
    diff.add_argument("--fail-on-drift", action="store_true", help="exit 1 when anything drifted")
    _root_option(diff)
    add_output_option(diff)
    diff.set_defaults(func=handle_diff)


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
    from task_runner.contract import recordings_json

    store = _store(args)
    if args.output == "json":
        out(dump_json(recordings_json(store, _workflow_name(args.workflow))))
        return 0
    infos = store.list(_workflow_name(args.workflow))
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
    if args.output == "json":
        from task_runner.contract import recording_json

        out(dump_json(recording_json(store, args.recording)))
        return 0
    path = store.resolve(args.recording)
    data = store.load(path)
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


def handle_schema(args: argparse.Namespace) -> int:
    from task_runner.errors import UsageError
    from task_runner.recording.schema import infer_schema, recorded_items, save_response_schema

    store = _store(args)
    path = store.resolve(args.recording)
    paths = store.paths(path.parent.parent.name, path.parent.name) if args.all else [path]
    items = [item for p in paths for item in recorded_items(store.load(p))]
    if not items:
        raise UsageError(
            f"no items in {path if len(paths) == 1 else path.parent}: nothing to infer from",
            hint="record a successful test-request of the task first",
        )
    schema = infer_schema(items)
    if args.out:
        from pathlib import Path

        out(f"wrote {save_response_schema(Path(args.out), schema)}")
    else:
        out(dump_json(schema))
    return 0


def handle_diff(args: argparse.Namespace) -> int:
    from task_runner.contract import drift_between

    drift = drift_between(_store(args), args.before, args.after)
    if args.output == "json":
        out(dump_json(drift.to_json()))
    else:
        for line in drift.lines():
            out(line)
    return 1 if args.fail_on_drift and drift.drifted else 0


# --- test-request's review of a run ----------------------------------------------------


def add_review_options(parser: argparse.ArgumentParser) -> None:
    """test-request's options that review the run against its recordings and checks."""
    parser.add_argument(
        "--compare",
        action="store_true",
        help="report the drift from the previous recording of the task (fields, status, "
        "headers, item counts)",
    )
    parser.add_argument(
        "--fail-on-drift",
        action="store_true",
        help="exit 1 when anything drifted since the previous recording (implies --compare)",
    )
    parser.add_argument(
        "--save-schema",
        action="store_true",
        help="keep the items' inferred JSON Schema as the task's response schema "
        "(task_definitions/<api>/responses/<operation>.schema.json), for `expect: {schema: stored}`",
    )
    parser.add_argument(
        "--junit",
        metavar="FILE",
        default=None,
        help="write the task's checks as a JUnit XML report to FILE (for CI)",
    )


def review(
    args: argparse.Namespace, workflow: Workflow, store: RecordingStore, outcome: TaskOutcome
) -> FollowUp:
    from task_runner.recording.followup import follow_up

    return follow_up(
        workflow,
        outcome,
        store,
        compare=args.compare,
        fail_on_drift=args.fail_on_drift,
        save_schema=args.save_schema,
        junit=args.junit,
    )
