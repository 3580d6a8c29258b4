"""The studio's routes, one module per area: :mod:`.pages` (the page, its static files,
the studio's state), :mod:`.workflows` (workflow files and their tasks: list, read,
draft, save), :mod:`.catalogue` (search and operations), :mod:`.testing` (test-request
jobs) and :mod:`.history` (recordings, drift, runs). Handlers find the
:class:`~task_runner.studio.backend.Studio` on the app (``app.state.studio``)."""

from __future__ import annotations

from starlette.routing import Route

from task_runner.studio.routes import catalogue, history, pages, testing, workflows

__all__ = ["all_routes"]


def all_routes() -> list[Route]:
    """Every route of the studio, in matching order."""
    return [
        *pages.ROUTES,
        *workflows.ROUTES,
        *catalogue.ROUTES,
        *testing.ROUTES,
        *history.ROUTES,
    ]
