"""Small helpers shared by the command modules: options, --input parsing, printing.

Everything printed goes through the process-wide redactor, so that no command can leak
a secret by forgetting to redact.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from task_runner.errors import UsageError
from task_runner.redact import REDACTOR

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
        help="set a workflow input (repeatable); VALUE is read as a YAML scalar: 777 is a number",
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


def parse_inputs(pairs: Sequence[str]) -> dict[str, Any]:
    """``["project_id=777", "name=x"]`` -> ``{"project_id": 777, "name": "x"}``.

    Values are parsed as YAML scalars (``true``, ``12``, ``2024-01-01`` stays a string so
    that dates reach templates unchanged).
    """
    import yaml

    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"--input {pair!r} is not KEY=VALUE", hint="write it like --input project_id=777"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)) or value is None:
            value = raw if value is None and raw.strip() not in ("null", "~") else value
        if not isinstance(value, (str, int, float, bool, list, dict)) and value is not None:
            value = raw  # dates and timestamps stay as the user typed them
        result[key] = value
    return result


def dump_json(obj: Any) -> str:
    return REDACTOR.redact(json.dumps(REDACTOR.redact_obj(obj), indent=2, default=str))


def out(text: str = "", stream: TextIO | None = None) -> None:
    """Print to stdout, redacted."""
    print(REDACTOR.redact(text), file=stream or sys.stdout)


def err(text: str = "") -> None:
    """Print to stderr, redacted."""
    print(REDACTOR.redact(text), file=sys.stderr)


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
