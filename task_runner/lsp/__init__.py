"""``task-runner lsp``: a language server for workflow files (LSP 3.17 over stdio).

Built on pygls and lsprotocol (the ``[lsp]`` extra). What it gives an editor:

* diagnostics as you type: every error ``task-runner validate`` reports for the unsaved
  buffer, at the range of the value or key it names, with the same message and ``kind``
  (the diagnostic's ``code``) (:mod:`task_runner.lsp.analysis`);
* completion of operation ids, parameters, enum values, connections, template names,
  durations and cron expressions (:mod:`task_runner.lsp.completion`);
* hover with the reference of operations and parameters and what a template renders to,
  and go to definition (:mod:`task_runner.lsp.navigation`);
* code lenses "Test request", "Dry run", "Show last recording", "Compare with last
  recording" above each task, run as ``test-request`` runs them, with progress and
  cancel, their result opened as a document (:mod:`task_runner.lsp.commands`).

Example (what ``task-runner lsp`` does)::

    from task_runner.lsp.server import build_server
    build_server().start_io()
"""

from __future__ import annotations

__all__ = ["serve"]


def serve() -> None:
    """Serve LSP on stdin/stdout until the client says ``exit``."""
    from task_runner.lsp.server import build_server

    build_server().start_io()
