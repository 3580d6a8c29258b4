"""The command line: a thin shell over the library.

``main(argv) -> int`` builds the parser from the command modules (each registers its
sub-commands and imports nothing heavy until it runs), calls the handler, and is the
only place that turns a :class:`~task_runner.errors.TaskRunnerError` into a message and
an exit code. No traceback reaches a user for an input mistake.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from task_runner import __version__
from task_runner.errors import EXIT_INTERRUPTED, InputErrors, TaskRunnerError
from task_runner.redact import REDACTOR, RedactingLogFilter

__all__ = ["build_parser", "main", "run_main"]

#: Command modules, in help order. Each has ``register(subparsers)``.
COMMAND_MODULES = (
    "apis",
    "add_task",
    "validate",
    "test_request",
    "run",
    "schedule",
    "runs",
    "recordings",
    "submit",
    "emulator",
    "studio",
    "lsp",
)


def configure_logging(verbosity: int, log_format: str = "text") -> None:
    """Log to stderr through the redacting filter; ``log_format`` ``json``: one JSON
    object per line (:mod:`task_runner.cli.logformat`), for log shippers."""
    level = logging.WARNING - 10 * verbosity
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingLogFilter())
    if log_format == "json":
        from task_runner.cli.logformat import JsonLogFormatter

        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("task_runner")
    root.handlers[:] = [handler]
    root.setLevel(max(logging.DEBUG, level))
    root.propagate = False


_GLOBAL_FLAG = re.compile(r"-v+|--verbose|--log-format=.*")


def command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (``["-v", "run", "wf.yaml"]`` -> ``"run"``), or ``None``
    when it names none or asks the top-level parser for something (``-h``, ``--version``,
    anything unexpected before the command): then every command is needed."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--log-format":
            next(tokens, None)
        elif not token.startswith("-"):
            return token
        elif not _GLOBAL_FLAG.fullmatch(token):
            return None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``command`` (``"run"``, ``"add-task"``) only
    that command's, so a run neither imports nor builds the others (start-up time);
    :func:`main` falls back to all of them when that one does not register ``command``."""
    parser = argparse.ArgumentParser(
        prog="task-runner",
        description="HTTP tasks in YAML workflows: find an API, prepare the request, "
        "test-run it, record it, and run the workflow on a schedule.",
        epilog="Exit codes: 0 success, 1 the run failed, 2 invalid input (nothing was sent), "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"task-runner {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output on stderr (-vv: debug)"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines on stderr as text (default) or one JSON object each, for log shippers",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    module = command.replace("-", "_") if command else None
    for name in (module,) if module in COMMAND_MODULES else COMMAND_MODULES:
        importlib.import_module(f"task_runner.cli.{name}").register(sub)
    return parser


def _registers(parser: argparse.ArgumentParser, command: str) -> bool:
    return any(
        isinstance(action, argparse._SubParsersAction) and command in action.choices
        for action in parser._actions
    )


def _print_error(exc: TaskRunnerError, args: argparse.Namespace | None) -> None:
    as_json = getattr(args, "output", "text") == "json"
    if as_json:
        payload = exc.to_dict() if isinstance(exc, InputErrors) else {"errors": [exc.to_dict()]}
        payload = {"status": "error", "exit_code": exc.exit_code, **payload}
        from task_runner.cli.common import dump_json

        print(dump_json(payload))
    text = exc.format()
    if isinstance(exc, InputErrors):
        text += f"\n{len(exc)} errors; nothing was sent."
    print(REDACTOR.redact(text), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (never raises for user mistakes)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = command_in(argv)
    parser = build_parser(command)
    if command is not None and not _registers(parser, command):
        parser = build_parser()  # an unknown command: argparse lists the known ones
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    configure_logging(args.verbose, args.log_format)
    try:
        return int(args.func(args) or 0)
    except TaskRunnerError as exc:
        _print_error(exc, args)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in task-runner, not a user mistake
        import traceback

        detail = "".join(traceback.format_exception(exc)) if args.verbose else ""
        print(
            REDACTOR.redact(
                f"{detail}internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in task-runner; please report it (run with -v for the traceback)."
            ),
            file=sys.stderr,
        )
        return 1


def run_main() -> None:  # console-script entry point
    sys.exit(main())
