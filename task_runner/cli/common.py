"""Small helpers shared by the command modules: options, --input parsing, printing.

Everything printed goes through the process-wide redactor, so that no command can leak
a secret by forgetting to redact.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from task_runner.errors import UsageError
from task_runner.redact import REDACTOR

if TYPE_CHECKING:
    from task_runner.workflow.inputs import InputText

__all__ = [
    "add_definitions_option",
    "add_input_option",
    "add_output_option",
    "definitions_dirs",
    "dump_json",
    "err",
    "out",
    "parse_inputs",
    "stderr_is_tty",
]


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="text for people (default) or json: one machine-readable object on stdout",
    )


def add_input_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        "-i",
        dest="inputs",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a workflow input (repeatable); VALUE is read by the input's declared type: "
        "text exactly as typed for a string, decimal digits for an integer (0777 is refused, "
        "never octal), true or false for a boolean, [1, 2] for an array",
    )


def add_definitions_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--definitions",
        action="append",
        default=[],
        metavar="DIR",
        help="add a catalogue folder of operation definitions (repeatable; "
        "also env TASK_RUNNER_DEFINITIONS, a path list)",
    )


def definitions_dirs(args: argparse.Namespace) -> list[str]:
    """``--definitions`` folders first, then those of ``TASK_RUNNER_DEFINITIONS``."""
    dirs = list(getattr(args, "definitions", []) or [])
    env = os.environ.get("TASK_RUNNER_DEFINITIONS", "")
    dirs.extend(p for p in env.split(os.pathsep) if p)
    return dirs


def parse_inputs(pairs: Sequence[str]) -> dict[str, InputText]:
    """``["project_id=777", "name=x"]`` -> ``{"project_id": InputText("777"), ...}``.

    Each VALUE stays the text as typed, marked as command-line text; the workflow's
    declared input type reads it later (``resolve_inputs``), so that ``0777`` is never
    octal and ``12:30`` never sexagesimal (see :mod:`task_runner.workflow.inputs`).
    Keys are stripped; a later pair wins. A VALUE longer than ``TASK_RUNNER_MAX_INPUT_BYTES``
    (64 KiB by default) is refused.
    """
    from task_runner.workflow.inputs import InputText
    from task_runner.workflow.limits import MAX_INPUT_BYTES, excerpt

    max_bytes = MAX_INPUT_BYTES.value()
    result: dict[str, InputText] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--input {excerpt(pair, 80)} is not KEY=VALUE",
                hint="write it like --input project_id=777",
            )
        size = len(raw.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise UsageError(
                f"--input {key if len(key) <= 80 else excerpt(key, 80)}: the value is {size:,} "
                "bytes, more than the "
                f"{max_bytes:,} an --input value may have",
                hint=MAX_INPUT_BYTES.hint(),
            )
        result[key] = InputText(raw)
    return result


def dump_json(obj: Any) -> str:
    return REDACTOR.dumps(obj, indent=2)


def out(text: str = "", stream: TextIO | None = None) -> None:
    """Print to stdout, redacted."""
    print(REDACTOR.redact(text), file=stream or sys.stdout)


def err(text: str = "", *, level: int = logging.INFO) -> None:
    """A status line (or lines) on stderr, redacted: printed, or with ``--log-format
    json`` one JSON object of the ``task_runner.status`` logger at ``level`` (a
    :mod:`logging` level; ERROR for a mistake found), so that a log shipper reads every
    stderr line as JSON (:mod:`task_runner.cli.logformat`)."""
    from task_runner.cli.logformat import STATUS_LOGGER, json_logs_on

    if json_logs_on():
        logging.getLogger(STATUS_LOGGER).log(level, "%s", REDACTOR.redact(text))
    else:
        print(REDACTOR.redact(text), file=sys.stderr)


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
