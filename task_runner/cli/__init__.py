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
    object per line (:mod:`task_runner.cli.logformat`), for log shippers. Status lines
    (the ``task_runner.status`` logger) show at every verbosity."""
    from task_runner.cli.logformat import (
        STATUS_LOGGER,
        JsonLogFormatter,
        TextLogFormatter,
    )

    level = logging.WARNING - 10 * verbosity
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingLogFilter())
    formatter = JsonLogFormatter() if log_format == "json" else TextLogFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger("task_runner")
    root.handlers[:] = [handler]
    root.setLevel(max(logging.DEBUG, level))
    root.propagate = False
    logging.getLogger(STATUS_LOGGER).setLevel(logging.INFO)


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
    :func:`main` falls back to all of them when that one does not register ``command``.

    The common options (``-v``, ``--log-format``) are accepted before the command and
    after it (:func:`_add_common_options`)."""
    parser = argparse.ArgumentParser(
        prog="task-runner",
        description="HTTP tasks in YAML workflows: find an API, prepare the request, "
        "test-run it, record it, and run the workflow on a schedule.",
        epilog="Common options may also follow the command (task-runner validate wf.yaml -v). "
        "Exit codes: 0 success, 1 the run failed, 2 invalid input (nothing was sent), "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"task-runner {__version__}")
    _add_common_options(parser, after=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    module = command.replace("-", "_") if command else None
    for name in (module,) if module in COMMAND_MODULES else COMMAND_MODULES:
        importlib.import_module(f"task_runner.cli.{name}").register(sub)
    _add_common_options_to_commands(sub, set())
    return parser


def _add_common_options(parser: argparse.ArgumentParser, *, after: bool) -> None:
    """``-v`` and ``--log-format`` on ``parser``. After the command (``after``) they
    have defaults of ``argparse.SUPPRESS`` and destinations of their own, so a command's
    parser neither resets nor overwrites what was given before it; :func:`_common`
    adds the two up."""
    suffix = "_after" if after else ""
    parser.add_argument(
        "-v",
        "--verbose",
        dest="verbose" + suffix,
        action="count",
        default=argparse.SUPPRESS if after else 0,
        help="more log output on stderr (-vv: debug)",
    )
    parser.add_argument(
        "--log-format",
        dest="log_format" + suffix,
        choices=("text", "json"),
        default=argparse.SUPPRESS if after else "text",
        help="stderr log and status lines as text (default) or one JSON object each, "
        "for log shippers",
    )


def _add_common_options_to_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    seen: set[int],
) -> None:
    """Every command's parser, and its sub-commands' (``runs list``), takes the common
    options too (aliases share one parser: added once)."""
    for child in sub.choices.values():
        if id(child) in seen:
            continue
        seen.add(id(child))
        _add_common_options(child, after=True)
        for action in child._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_common_options_to_commands(action, seen)


def _common(args: argparse.Namespace) -> tuple[int, str]:
    """``(verbosity, log format)`` from the common options before and after the command:
    counts add up (``-v run wf.yaml -v`` is ``-vv``), the last log format wins."""
    verbosity = getattr(args, "verbose", 0) + getattr(args, "verbose_after", 0)
    log_format = getattr(args, "log_format_after", getattr(args, "log_format", "text"))
    args.verbose, args.log_format = verbosity, log_format
    return verbosity, log_format


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
    errors = exc.to_dict()["errors"] if isinstance(exc, InputErrors) else [exc.to_dict()]
    _stderr(text, logging.ERROR, exit_code=exc.exit_code, errors=errors)


def _stderr(text: str, level: int, **fields: object) -> None:
    """A last line for a person on stderr; with ``--log-format json`` one ERROR object
    (``fields`` added) instead, so that every stderr line stays JSON."""
    from task_runner.cli.logformat import STATUS_LOGGER, json_logs_on

    if json_logs_on():
        logging.getLogger(STATUS_LOGGER).log(level, "%s", text, extra=fields)
    else:
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
    configure_logging(*_common(args))
    try:
        return int(args.func(args) or 0)
    except TaskRunnerError as exc:
        _print_error(exc, args)
        return exc.exit_code
    except KeyboardInterrupt:
        _stderr("interrupted", logging.ERROR, exit_code=EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in task-runner, not a user mistake
        import traceback

        detail = "".join(traceback.format_exception(exc)) if args.verbose else ""
        _stderr(
            f"{detail}internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in task-runner; please report it (run with -v for the traceback).",
            logging.CRITICAL,
            exit_code=1,
        )
        return 1


def run_main() -> None:  # console-script entry point
    sys.exit(main())
