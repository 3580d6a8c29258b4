"""``task-runner studio``: a local web app for the three steps of the editor loop.

Add an HTTP task to a workflow; search the catalogue and click an operation, which
shows its reference and prepares the request as a form made from its params JSON
Schema; test the request and see the response -- over the workflow files of one folder.

Modules: :mod:`~task_runner.studio.app` (the Starlette app and its config),
:mod:`~task_runner.studio.routes` (the routes, one module per area),
:mod:`~task_runner.studio.backend` (the state behind them),
:mod:`~task_runner.studio.guard` (the security middleware: token, CSRF, Host),
:mod:`~task_runner.studio.responses` (security headers, redacted JSON, errors),
:mod:`~task_runner.studio.workspace` (the files under the folder, drafts made
with ``add-task``'s round-trip writer, saves with conflict detection),
:mod:`~task_runner.studio.jobs` (test requests in worker threads, cancellable), and
``static/`` (the page: hand-written HTML, CSS and JavaScript, shipped as package data).
The JSON it serves is :mod:`task_runner.contract`'s. Needs the ``[studio]`` extra.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":  # Starlette is imported only when the studio is used
        from task_runner.studio.app import create_app

        return create_app
    raise AttributeError(name)
