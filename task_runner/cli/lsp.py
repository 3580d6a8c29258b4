"""``task-runner lsp``: the language server for editors, on stdin/stdout."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "lsp",
        help="run the language server for editors (LSP over stdin/stdout)",
        description="Run the workflow language server on stdin/stdout, for an editor to "
        "start: diagnostics as you type (what `validate` reports), completion, hover, go to "
        "definition, and Test request / Dry run code lenses above each task. Settings come "
        "from the editor (initializationOptions or the taskRunner configuration section). "
        "Needs the [lsp] extra (pip install 'task-runner[lsp]').",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    import sys

    try:
        from task_runner.lsp.server import build_server
    except ImportError as exc:  # pygls or lsprotocol missing
        from task_runner.errors import UsageError

        raise UsageError(
            f"the language server needs pygls and lsprotocol ({exc.name} is not installed)",
            hint="pip install 'task-runner[lsp]'",
        ) from None
    # stdout carries the protocol: anything else printed there would corrupt it.
    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr
    build_server().start_io(sys.stdin.buffer, protocol_out)
    return 0
