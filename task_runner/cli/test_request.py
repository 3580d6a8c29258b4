"""``task-runner test-request WORKFLOW --task NAME``: run one task, show and record it.

The editor's inner loop: send the one request, show its status, the headers that
matter and the body, and keep the exchange as a recording (and optionally as HAR).
Inputs a task reads from earlier tasks come from their latest recordings made with
the same inputs; the earlier tasks run first only when there is none.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

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
from task_runner.cli.recordings import add_review_options, review
from task_runner.cli.run import add_emulator_option
from task_runner.contract.test_request import shown_headers

if TYPE_CHECKING:
    from pathlib import Path

    from task_runner.recording.session import TaskOutcome
    from task_runner.workflow.model import Workflow


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
    add_emulator_option(parser)
    parser.add_argument(
        "--pages",
        type=_positive,
        default=1,
        metavar="N",
        help="fetch at most N pages (default 1: a test needs only the first page)",
    )
    parser.add_argument(
        "--items",
        type=_positive,
        default=1,
        metavar="N",
        help="a for_each task runs its first N items only (default 1); files and databases "
        "are checked but not written",
    )
    parser.add_argument(
        "--full", action="store_true", help="print the whole body instead of its start"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--record-dir",
        metavar="DIR",
        default=None,
        help="keep recordings under DIR (default: recordings/)",
    )
    where.add_argument("--no-record", action="store_true", help="do not write a recording")
    parser.add_argument(
        "--har", metavar="FILE", default=None, help="also write the exchange as HAR 1.2 to FILE"
    )
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="send a write (POST, PUT, PATCH, DELETE) without asking first",
    )
    add_review_options(parser)  # --compare, --fail-on-drift, --save-schema, --junit
    parser.set_defaults(func=handle)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def handle(args: argparse.Namespace) -> int:
    if args.dry_run:
        return dry_run(args)
    return send(args)


def dry_run(args: argparse.Namespace) -> int:
    """Print the first request exactly as ``send`` would put it on the wire, and a curl
    line that sends the same bytes; upstream outputs from the same recordings."""
    from task_runner.catalogue import Catalogue
    from task_runner.recording.session import preview_request
    from task_runner.recording.store import DEFAULT_ROOT, RecordingStore
    from task_runner.runner.emulated import maybe_emulator
    from task_runner.workflow import load_workflow, resolve_inputs
    from task_runner.workflow.display import curl_command, request_lines

    workflow = load_workflow(args.workflow, catalogue=Catalogue.load(definitions_dirs(args)))
    workflow.task(args.task)
    inputs = parse_inputs(args.inputs)
    resolve_inputs(workflow, inputs)  # input mistakes first (exit 2)
    store = RecordingStore(args.record_dir or DEFAULT_ROOT)
    with maybe_emulator(args.emulator, workflow) as overrides:
        sent = preview_request(
            workflow,
            args.task,
            inputs,
            store=store,
            connection_overrides=overrides,
            emulated=args.emulator,
            notify=err,
        )
    if args.output == "json":
        from task_runner.contract import dry_run_json

        out(dump_json(dry_run_json(args.task, sent)))
        return 0
    for line in request_lines(sent):
        out(line)
    out("")
    out("# the same request with curl (secrets shown as ***):")
    out(curl_command(sent))
    return 0


# --- sending --------------------------------------------------------------------------

BODY_LINES = 40


def send(args: argparse.Namespace) -> int:
    from task_runner.catalogue import Catalogue
    from task_runner.cli.run import graceful_stop
    from task_runner.recording.har import to_har, write_har
    from task_runner.recording.session import run_task_once
    from task_runner.recording.store import DEFAULT_ROOT, RecordingStore
    from task_runner.runner.emulated import maybe_emulator
    from task_runner.workflow import load_workflow, resolve_inputs

    workflow = load_workflow(args.workflow, catalogue=Catalogue.load(definitions_dirs(args)))
    inputs = parse_inputs(args.inputs)
    resolve_inputs(workflow, inputs)  # input mistakes first (exit 2), before asking anything
    confirm_write(workflow, args.task, yes=args.yes)
    store = RecordingStore(args.record_dir or DEFAULT_ROOT)
    # Ctrl-C/SIGTERM end a retry or rate-limit wait at once (a second one stops at once)
    with maybe_emulator(args.emulator, workflow) as overrides, graceful_stop() as cancel:
        outcome = run_task_once(
            workflow,
            args.task,
            inputs,
            store=store,
            record=not args.no_record,
            max_pages=args.pages,
            max_items=args.items,
            connection_overrides=overrides,
            emulated=args.emulator,
            notify=err,
            cancel=cancel,
        )
    har_path = None
    if args.har and outcome.recording is not None:
        har_path = write_har(to_har(outcome.recording), args.har)
    done = review(args, workflow, store, outcome)  # drift, saved schema, JUnit report
    if args.output == "json":
        out(dump_json({**json_payload(outcome, har_path), **done.json}))
    else:
        print_outcome(outcome, full=args.full, color=_stdout_is_tty(), workflow=workflow)
        if har_path is not None:
            out(f"har: {har_path}")
        for line in done.lines:
            out(line)
    for note in done.notes:
        err(note)
    if outcome.result.status != "succeeded" and outcome.result.error:
        err(f"error: {outcome.result.error}")
    return max(outcome.exit_code, done.exit_code)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # RFC 9110 section 9.2.1


def task_method(workflow: Workflow, name: str) -> str:
    """The HTTP method a task sends (its operation's, or its raw request's)."""
    task = workflow.task(name)
    operation = workflow.operation(task)
    if operation is not None:
        return operation.method.upper()
    return str((task.request or {}).get("method") or "GET").upper()


def confirm_write(workflow: Workflow, name: str, *, yes: bool) -> None:
    """A test run of a write changes data on the server: ask first (a terminal), or
    refuse without ``--yes`` (exit 2, nothing sent)."""
    from task_runner.errors import UsageError

    method = task_method(workflow, name)
    if method in SAFE_METHODS or yes:
        return
    question = f"task {name!r} sends {method}, which changes data on the server. Send it? [y/N] "
    if _stdin_is_tty():
        err(question.rstrip())
        if input().strip().lower() in ("y", "yes"):
            return
        raise UsageError(f"not sent: task {name!r} ({method}) was not confirmed")
    raise UsageError(
        f"task {name!r} sends {method}, which changes data on the server; not sent",
        hint="pass --yes to send it, or --dry-run to see the request without sending",
    )


def _stdin_is_tty() -> bool:
    import sys

    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def json_payload(outcome: TaskOutcome, har_path: Path | None) -> dict[str, object]:
    """The editor contract: one object with the request, responses and recording path
    (:func:`task_runner.contract.outcome_json`)."""
    from task_runner.contract import outcome_json

    return outcome_json(outcome, har_path)


def _stdout_is_tty() -> bool:
    import os
    import sys

    try:
        return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    except (AttributeError, ValueError):
        return False


def print_outcome(
    outcome: TaskOutcome, *, full: bool, color: bool, workflow: Workflow | None = None
) -> None:
    from task_runner.recording.estimate import full_run_line

    recording = outcome.recording
    if recording is None:  # the task never started: its error says why
        return
    request = recording.get("request")
    if request:  # the request line exactly as sent (page 1's first try)
        out(f"{request['method']} {request['url']}")
    responses = recording.get("responses", [])
    attempts = len(recording.get("attempts", []))
    for response in responses:
        out(_status_line(response, len(responses)))
    if responses:
        first = responses[-1] if not responses[-1].get("accepted", True) else responses[0]
        for name, value in shown_headers(first.get("headers", {})).items():
            out(f"{name}: {value}")
        out("")
        shown = responses if full else [first]
        for response in shown:
            if full and len(shown) > 1:
                out(f"--- page {response.get('page')} ---")
            lines, note = body_lines(response.get("body"), full=full)
            for line in lines:
                out(highlight(line) if color else line)
            if note:
                out(note)
        if not full and len(responses) > 1:
            out(f"... {len(responses) - 1} more page(s) in the recording (--full prints them)")
    if attempts > len(responses):
        out(f"({attempts} attempts on the wire; see the recording)")
    if estimate := full_run_line(recording, workflow):  # Total, pages, calls, time
        out(estimate)
    if outcome.recording_path is not None:
        out(f"recorded: {outcome.recording_path}")
    if outcome.task_output is not None:
        out(_output_line(outcome))
    if outcome.result.fan_out is not None:
        from task_runner.cli.run import fan_out_line

        out(fan_out_line(outcome.result.fan_out))
        from task_runner.runner.fanout import checked_lines

        for line in checked_lines(outcome.result.fan_out):  # each file checked
            out(f"  {line}")


def _output_line(outcome: TaskOutcome) -> str:
    """Where a test run put the task's items: beside its recording, never at the task's
    own output.jsonl (that is where scheduled runs publish)."""
    where = f"the task's {outcome.task_output} is left to scheduled runs"
    if outcome.output is not None:
        return f"output: {outcome.output} ({outcome.result.item_count} item(s); {where})"
    if outcome.recording_path is None and outcome.result.status == "succeeded":
        return f"output: not written (nothing is recorded); {where}"
    return f"output: not written (the run failed); {where}"


def _status_line(response: dict[str, object], pages: int) -> str:
    status = f"{response.get('status')} {response.get('reason') or ''}".rstrip()
    line = f"{status}  {float(response.get('elapsed') or 0.0):.3f}s"  # type: ignore[arg-type]
    if pages > 1:
        line = f"page {response.get('page')}: {line}"
    count = response.get("item_count")
    if isinstance(response.get("body"), list):
        line += f"  {count} item(s)"
    return line


def body_lines(body: object, *, full: bool, limit: int = BODY_LINES) -> tuple[list[str], str]:
    """The body pretty-printed, and a note saying what was left out (or "")."""
    import json

    if body is None:
        return ["(empty body)"], ""
    if isinstance(body, str):
        lines = body.splitlines() or [""]
        if full or len(lines) <= limit:
            return lines, ""
        return lines[:limit], f"... {len(lines) - limit} more line(s) (--full prints them)"
    lines = json.dumps(body, indent=2, ensure_ascii=False).splitlines()
    if full or len(lines) <= limit:
        return lines, ""
    if isinstance(body, list):
        return _first_items(body, limit)
    return lines[:limit], f"... {len(lines) - limit} more line(s) (--full prints them)"


def _first_items(body: list[object], limit: int) -> tuple[list[str], str]:
    """Whole items while they fit in ``limit`` lines; the first item always (cut if huge)."""
    import json

    lines = ["["]
    shown = 0
    for item in body:
        item_lines = ["  " + line for line in json.dumps(item, indent=2).splitlines()]
        if shown and len(lines) + len(item_lines) + 1 > limit:
            break
        if not shown and len(item_lines) + 2 > 2 * limit:  # one whole item, unless huge
            lines.extend(item_lines[: limit - 2])
            lines.append("  ...")
            shown = 1
            break
        if shown:
            lines[-1] += ","
        lines.extend(item_lines)
        shown += 1
    lines.append("]")
    return lines, f"... showing {shown} of {len(body)} item(s) (--full prints them all)"


_COLORS = {"key": "\033[36m", "string": "\033[32m", "number": "\033[33m", "literal": "\033[35m"}
_RESET = "\033[0m"


def highlight(line: str) -> str:
    """Simple ANSI colours for one line of indented JSON: keys, strings, numbers, literals."""
    import re

    token = re.compile(
        r'(?P<key>"(?:[^"\\]|\\.)*")(?=\s*:)'
        r'|(?P<string>"(?:[^"\\]|\\.)*")'
        r"|(?P<number>-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)"
        r"|(?P<literal>\b(?:true|false|null)\b)"
    )

    def paint(match: re.Match[str]) -> str:
        kind = match.lastgroup or "string"
        return f"{_COLORS[kind]}{match.group(0)}{_RESET}"

    return token.sub(paint, line)
