"""What was run and recorded: ``GET /api/recordings`` (a workflow's or task's
recordings), ``GET /api/recording`` (one, by ``ref``), ``GET /api/drift`` (what changed
between two recordings), ``GET /api/runs`` (the run history, newest 50) and
``GET /api/run`` (one run, by ``id``). Paths are shown relative to the studio's folder."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from task_runner.errors import UsageError
from task_runner.studio.backend import studio_of
from task_runner.studio.responses import handles_errors, json_response

__all__ = ["ROUTES"]


@handles_errors
async def recordings(request: Request) -> Response:
    from task_runner.contract import recordings_json

    studio = studio_of(request)
    workflow_name = request.query_params.get("workflow") or None
    task = request.query_params.get("task")
    listing = recordings_json(studio.store, workflow_name)
    rows = [r for r in listing["recordings"] if not task or r["task"] == task]
    for row in rows:
        row["path"] = studio.shown_path(row["path"])
    return json_response({"recordings": rows})


@handles_errors
async def recording(request: Request) -> Response:
    from task_runner.contract import recording_json

    studio = studio_of(request)
    path = studio.recording_path(request.query_params.get("ref", ""))
    data = recording_json(studio.store, path)
    data["path"] = studio.shown_path(data["path"])
    data.pop("workflow_file", None)
    return json_response(data)


@handles_errors
async def drift(request: Request) -> Response:
    from task_runner.contract import drift_between

    studio = studio_of(request)
    before = studio.recording_path(request.query_params.get("before", ""))
    after_ref = request.query_params.get("after")
    after = studio.recording_path(after_ref) if after_ref else None
    found = drift_between(studio.store, before, after)
    payload = found.to_json()
    for side in ("before", "after"):
        if payload[side].get("path"):
            payload[side]["path"] = studio.shown_path(payload[side]["path"])
    payload["lines"] = [line for line in found.lines()[2:]]
    return json_response(payload)


@handles_errors
async def runs(request: Request) -> Response:
    from task_runner.contract import runs_json
    from task_runner.state import History

    studio = studio_of(request)
    history = History(studio.state_dir() / _history_file())
    shown_dir = studio.shown_path(str(studio.state_dir()))
    if not history.exists():
        return json_response({"runs": [], "state_dir": shown_dir})
    rows = runs_json(history, workflow=request.query_params.get("workflow") or None, limit=50)
    return json_response({"runs": rows, "state_dir": shown_dir})


@handles_errors
async def run(request: Request) -> Response:
    from task_runner.contract import run_json
    from task_runner.state import History

    history = History(studio_of(request).state_dir() / _history_file())
    if not history.exists():
        raise UsageError("no run history yet")
    return json_response(run_json(history, request.query_params.get("id", "")))


def _history_file() -> str:
    from task_runner.state.history import DB_NAME

    return DB_NAME


ROUTES = [
    Route("/api/recordings", recordings),
    Route("/api/recording", recording),
    Route("/api/drift", drift),
    Route("/api/runs", runs),
    Route("/api/run", run),
]
