"""The studio's web server: a Starlette app over the same library the CLI uses.

This module holds what the CLI imports (:class:`StudioConfig`, :func:`create_app`,
:func:`wait_for_jobs`); the routes are in :mod:`task_runner.studio.routes` (one module
per area), the state behind them in :mod:`task_runner.studio.backend`, the security
middleware in :mod:`task_runner.studio.guard`, and the response helpers in
:mod:`task_runner.studio.responses`.

Routes (all JSON under ``/api``; every request needs the access token):

==========================  ==============================================================
``GET  /``                  the page (``?token=`` once: it becomes a cookie, then ``/``)
``GET  /api/state``         the folder, emulator on or off, the version
``GET  /api/workflows``     the workflow files: tasks, validation, last test, schedule
``GET  /api/workflow``      one file: its text, SHA-256, errors, inputs, secrets' names
``GET  /api/search``        catalogue search (``q``), grouped by API in the page
``GET  /api/operation``     an operation's reference and params JSON Schema (``id``)
``POST /api/draft``         the file with the task added (not written) and its errors
``POST /api/save``          write that task into the file (409 on a change on disk)
``POST /api/task/draft``    an existing task's params/connection changed (not written)
``POST /api/task/save``     write that change (409 when the file changed since loaded)
``POST /api/test``          start a test request (a job); ``GET /api/test/{id}`` polls it,
                            ``POST /api/test/{id}/cancel`` stops it
``GET  /api/recordings``    a task's recordings; ``/api/recording``, ``/api/drift``
``GET  /api/runs``          the run history; ``/api/run`` one run
==========================  ==============================================================

A save that would not pass ``validate`` is 422 with its errors; a body of the wrong
shape is 400 naming the field (:mod:`task_runner.studio.bodies`).

Security (:class:`~task_runner.studio.guard.Guard`): the token is compared in constant time on every
request (query ``token``, the ``HttpOnly; SameSite=Strict`` cookie, or the
``X-Studio-Token`` header); a write (any method but GET/HEAD) needs the header itself
-- which a cross-site form cannot send -- and a same-origin ``Origin``; the ``Host``
header must name this server (DNS rebinding). Every JSON answer goes through the
process-wide redactor, and secrets are listed by name only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.emulator import Emulator

__all__ = ["StudioConfig", "create_app", "wait_for_jobs"]


@dataclass
class StudioConfig:
    """What one studio serves.

    ``root``: the folder of workflow files (nothing outside it is read or written);
    ``token``: the access token; ``host``/``port``: where it listens (for the ``Host``
    check; port 0 accepts any port, for tests); ``emulator``: a running emulator whose
    connections replace ``api: procore`` ones, or None.
    """

    root: Path
    token: str
    catalogue: Catalogue
    host: str = "127.0.0.1"
    port: int = 0
    emulator: Emulator | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def cookie_name(self) -> str:
        return f"task_runner_studio_{self.port}"


def create_app(config: StudioConfig) -> Starlette:
    """The studio's ASGI application (wrapped in :class:`~task_runner.studio.guard.Guard`);
    its :class:`~task_runner.studio.backend.Studio` is ``app.state.studio``."""
    from task_runner.studio.backend import Studio
    from task_runner.studio.guard import Guard
    from task_runner.studio.routes import all_routes

    app = Starlette(routes=all_routes())
    app.state.studio = Studio(config)
    app.add_middleware(Guard, config=config)
    return app


def wait_for_jobs(app: Starlette, timeout: float = 5.0) -> None:
    """At shutdown: cancel running test requests (their waits end at once) and give them
    ``timeout`` seconds to end (a response being read finishes first)."""
    from task_runner.studio.backend import Studio

    studio: Studio = app.state.studio
    studio.jobs.cancel_all()
    studio.jobs.wait_all(timeout)
