"""The page and what it loads: ``GET /`` (the HTML with the token for its requests),
``GET /static/{name}`` (its scripts, styles and icons, shipped as package data) and
``GET /api/state`` (the folder, emulator on or off, the version)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from task_runner.studio.backend import studio_of
from task_runner.studio.responses import handles_errors, json_response, plain, secure

__all__ = ["ROUTES", "STATIC_TYPES"]

STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}


async def index(request: Request) -> Response:
    html = _asset("index.html").decode("utf-8")
    html = html.replace("{{TOKEN}}", studio_of(request).config.token)
    return secure(HTMLResponse(html))


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if not re.fullmatch(r"[a-z0-9_-]+\.(js|css|svg)", name):
        return plain(404, "not found")
    try:
        data = _asset(name)
    except FileNotFoundError:
        return plain(404, "not found")
    return secure(Response(data, media_type=STATIC_TYPES[Path(name).suffix]))


@handles_errors
async def state(request: Request) -> Response:
    from task_runner import __version__

    config = studio_of(request).config
    return json_response(
        {
            "root": config.root.name or str(config.root),
            "emulator": config.emulator is not None,
            "version": __version__,
            "namespaces": ["inputs", "env", "secrets", "tasks", "run"],
            "run_fields": ["id", "workflow", "window_start", "window_end", "started_at"],
        }
    )


def _asset(name: str) -> bytes:
    return resources.files("task_runner.studio").joinpath("static").joinpath(name).read_bytes()


ROUTES = [
    Route("/", index),
    Route("/static/{name}", static),
    Route("/api/state", state),
]
