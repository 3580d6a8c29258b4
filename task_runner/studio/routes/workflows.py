"""Workflow files and their tasks: ``GET /api/workflows`` (every file: tasks,
validation, last test, schedule), ``GET /api/workflow`` (one file with its text),
``POST /api/draft`` / ``/api/save`` (a new task: shown, then written) and
``POST /api/task/draft`` / ``/api/task/save`` (an existing task changed). A save is
409 when the file changed on disk since the page loaded it, and 422 (with the errors
``validate`` gives) when the file it would write does not pass ``validate``; a body of
the wrong shape is 400 (:mod:`task_runner.studio.bodies`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from task_runner.errors import UsageError
from task_runner.studio.backend import studio_of
from task_runner.studio.bodies import checked_body
from task_runner.studio.responses import handles_errors, json_response, read_body
from task_runner.studio.workspace import Conflict, Draft

__all__ = ["ROUTES"]


@handles_errors
async def workflows(request: Request) -> Response:
    studio = studio_of(request)
    files = []
    for path in studio.workspace.workflow_files():
        rel = studio.workspace.rel(path)
        text = studio.workspace.read(rel) or ""
        files.append(studio.describe(rel, text))
    return json_response({"workflows": files})


@handles_errors
async def workflow(request: Request) -> Response:
    studio = studio_of(request)
    rel = request.query_params.get("path", "")
    text = studio.workspace.read(rel)
    if text is None:
        return json_response({"path": rel, "exists": False, "text": "", "sha256": None})
    return json_response({**studio.describe(rel, text), "exists": True, "text": text})


@handles_errors
async def draft(request: Request) -> Response:
    data = checked_body(await read_body(request), "draft")
    built = studio_of(request).drafted(data, with_inputs=True)
    return json_response(built.to_json())


@handles_errors
async def save(request: Request) -> Response:
    studio = studio_of(request)
    data = checked_body(await read_body(request), "save")
    rel = str(data.get("path", ""))
    built = studio.drafted(data, with_inputs=False)
    if built.base_sha256 != data.get("base_sha256"):
        raise Conflict(rel, studio.workspace.read(rel))
    if built.errors:
        return _invalid(built)
    digest = studio.workspace.save(rel, built.text, built.base_sha256)
    return json_response({"status": "saved", "path": rel, "task": built.task, "sha256": digest})


@handles_errors
async def task_draft(request: Request) -> Response:
    data = checked_body(await read_body(request), "task_draft")
    return json_response(studio_of(request).edited(data).to_json())


@handles_errors
async def task_save(request: Request) -> Response:
    studio = studio_of(request)
    data = checked_body(await read_body(request), "task_save")
    rel = str(data.get("path", ""))
    base = data.get("base_sha256")
    if not base:
        raise UsageError("base_sha256 is required: the digest of the file the edit began on")
    built = studio.edited(data, with_inputs=False)
    if built.base_sha256 != base:
        raise Conflict(rel, studio.workspace.read(rel))
    if built.errors:
        return _invalid(built)
    digest = studio.workspace.save(rel, built.text, base)  # Conflict when it changed
    return json_response({"status": "saved", "path": rel, "task": built.task, "sha256": digest})


def _invalid(built: Draft) -> Response:
    """422: the file would not pass ``validate``; its errors, as ``validate --output
    json`` gives them (``inputs`` are not given: a saved file must validate without)."""
    count = len(built.errors)
    message = (
        f"{built.path} would not pass validate ({count} error{'s' if count != 1 else ''}); "
        "nothing was written"
    )
    payload = {"status": "invalid", "exit_code": 2, "message": message, "errors": built.errors}
    return json_response(payload, 422)


ROUTES = [
    Route("/api/workflows", workflows),
    Route("/api/workflow", workflow),
    Route("/api/draft", draft, methods=["POST"]),
    Route("/api/save", save, methods=["POST"]),
    Route("/api/task/draft", task_draft, methods=["POST"]),
    Route("/api/task/save", task_save, methods=["POST"]),
]
