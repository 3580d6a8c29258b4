"""Test requests, as jobs: ``POST /api/test`` starts one (of a saved task, an unsaved
edit, or an unsaved new task) and answers 202, ``GET /api/test/{job}`` polls it, and
``POST /api/test/{job}/cancel`` stops it. A task that writes (POST, PUT, PATCH,
DELETE) is sent only when the page confirmed it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from task_runner.errors import UsageError
from task_runner.studio.backend import Studio, studio_of
from task_runner.studio.bodies import checked_body
from task_runner.studio.responses import handles_errors, json_response, read_body

__all__ = ["ROUTES"]


@handles_errors
async def test_start(request: Request) -> Response:
    studio = studio_of(request)
    data = checked_body(await read_body(request), "test")
    rel = str(data.get("path", ""))
    inputs = data.get("inputs") or {}
    pages = int(data.get("pages") or 1)
    text, task = _tested(studio, rel, data)
    _confirm_write(studio, rel, text, task, bool(data.get("confirm_write")))
    job = studio.jobs.start(
        rel, task, lambda job: studio.run_test(job, rel, text, task, inputs, pages)
    )
    return json_response(job.to_json(), 202)


def _tested(studio: Studio, rel: str, data: dict[str, Any]) -> tuple[str, str]:
    """``(workflow text, task)`` to test: an existing task with unsaved changes
    (``edit``), an unsaved new task (``operation``), or a task of the file as saved."""
    if data.get("edit"):
        built = studio.edited(data, with_inputs=False)
        return built.text, built.task
    if data.get("operation"):
        built = studio.drafted(data, with_inputs=False)
        return built.text, built.task
    found = studio.workspace.read(rel)
    if found is None:
        raise UsageError(f"no workflow file {rel!r}")
    return found, str(data.get("task", ""))


@handles_errors
async def test_get(request: Request) -> Response:
    job = studio_of(request).jobs.get(request.path_params["job"])
    if job is None:
        return json_response({"status": "error", "message": "no such test"}, 404)
    return json_response(job.to_json())


@handles_errors
async def test_cancel(request: Request) -> Response:
    studio = studio_of(request)
    job = studio.jobs.get(request.path_params["job"])
    if job is None:
        return json_response({"status": "error", "message": "no such test"}, 404)
    studio.jobs.cancel(job)
    return json_response(job.to_json())


def _confirm_write(studio: Studio, rel: str, text: str, task: str, confirmed: bool) -> None:
    """A write (POST, PUT, PATCH, DELETE) is sent only when the page confirmed it, as
    ``test-request`` asks (RFC 9110 section 9.2.1: only safe methods are free)."""
    from task_runner.cli.test_request import SAFE_METHODS as SAFE
    from task_runner.cli.test_request import task_method

    with studio.workspace.staged_workflow(rel, text) as workflow:
        method = task_method(workflow, task)
    if method not in SAFE and not confirmed:
        raise UsageError(
            f"task {task!r} sends {method}, which changes data on the server; not sent",
            hint="confirm it in the studio to send it",
        )


ROUTES = [
    Route("/api/test", test_start, methods=["POST"]),
    Route("/api/test/{job}", test_get),
    Route("/api/test/{job}/cancel", test_cancel, methods=["POST"]),
]
