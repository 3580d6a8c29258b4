"""The studio's web server: a Starlette app over the same library the CLI uses.

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

Security (see :class:`Guard`): the token is compared in constant time on every
request (query ``token``, the ``HttpOnly; SameSite=Strict`` cookie, or the
``X-Studio-Token`` header); a write (any method but GET/HEAD) needs the header itself
-- which a cross-site form cannot send -- and a same-origin ``Origin``; the ``Host``
header must name this server (DNS rebinding). Every JSON answer goes through the
process-wide redactor, and secrets are listed by name only.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from task_runner.errors import TaskRunnerError, UsageError
from task_runner.redact import REDACTOR
from task_runner.studio.jobs import Job, JobBoard
from task_runner.studio.workspace import Conflict, Workspace, sha256_text, template_names

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from task_runner.catalogue import Catalogue
    from task_runner.emulator import Emulator
    from task_runner.workflow.model import Workflow

__all__ = ["StudioConfig", "create_app"]

TOKEN_HEADER = "x-studio-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: How many search results one answer holds (the page says when there are more).
SEARCH_LIMIT = 200
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the first URL
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


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


# -- security -----------------------------------------------------------------------------


class Guard:
    """ASGI middleware: the access token on every request, CSRF-safe writes, Host check."""

    def __init__(self, app: ASGIApp, config: StudioConfig) -> None:
        self.app = app
        self.config = config

    def _host_ok(self, host: str) -> bool:
        if self.config.host in ("0.0.0.0", "::"):
            return True
        name = re.sub(r":\d+$", "", host.strip().lower())
        allowed = LOOPBACK_NAMES | {self.config.host.lower()}
        if name not in allowed:
            return False
        port = host.rsplit(":", 1)[1] if re.search(r":\d+$", host) else None
        return self.config.port == 0 or port is None or port == str(self.config.port)

    def _token_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(
            (value or "").encode("utf-8"), self.config.token.encode("utf-8")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan; the app has no websocket routes
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not self._host_ok(request.headers.get("host", "")):
            await _plain(400, "unexpected Host header: open the studio by the URL it printed")(
                scope, receive, send
            )
            return
        query_token = request.query_params.get("token")
        header_token = request.headers.get(TOKEN_HEADER)
        cookie_token = request.cookies.get(self.config.cookie_name)
        if not any(self._token_ok(t) for t in (query_token, header_token, cookie_token)):
            await _refused()(scope, receive, send)
            return
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            same_origin = origin is None or _origin_host(origin) == request.headers.get("host")
            if not self._token_ok(header_token) or not same_origin:
                await _plain(403, "a change needs the studio's token header from its own page")(
                    scope, receive, send
                )
                return
        if self._token_ok(query_token) and request.method == "GET" and request.url.path == "/":
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(
                self.config.cookie_name,
                self.config.token,
                httponly=True,
                samesite="strict",
                path="/",
            )
            _secure(response)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _origin_host(origin: str) -> str:
    return re.sub(r"^[a-z]+://", "", origin.strip().lower()).rstrip("/")


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _plain(status: int, text: str) -> Response:
    return _secure(Response(text + "\n", status_code=status, media_type="text/plain"))


def _refused() -> Response:
    page = (
        "<!doctype html><meta charset=utf-8><title>task-runner studio</title>"
        "<h1>Access token required</h1><p>Open the studio by the URL that "
        "<code>task-runner studio</code> printed in your terminal: it holds the token.</p>"
    )
    return _secure(HTMLResponse(page, status_code=403))


class RedactedJSON(Response):
    """JSON through the process-wide redactor: a registered secret never leaves."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return REDACTOR.dumps(content).encode("utf-8")


def _json(content: Any, status: int = 200) -> Response:
    return _secure(RedactedJSON(content, status_code=status))


def _error(exc: TaskRunnerError, status: int | None = None) -> Response:
    from task_runner.contract import failure_json

    return _json(failure_json(exc), status or (400 if exc.exit_code == 2 else 500))


Handler = Callable[[Request], Awaitable[Response]]


def _handles_errors(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Conflict as exc:
            payload = {"status": "conflict", "message": exc.format()}
            return _json({**payload, "current": exc.current, "sha256": exc.sha256}, 409)
        except TaskRunnerError as exc:
            return _error(exc)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(UsageError(f"bad request: {exc}"))

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise UsageError(f"the request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError("the request body must be a JSON object")
    return data


# -- the application ------------------------------------------------------------------------


class Studio:
    """The state behind the routes: the workspace, the jobs, the stores."""

    def __init__(self, config: StudioConfig) -> None:
        from task_runner.recording.store import RecordingStore

        self.config = config
        self.workspace = Workspace(config.root, config.catalogue)
        self.jobs = JobBoard()
        self.store = RecordingStore(self.workspace.root / "recordings")
        self._briefs: dict[Path, dict[str, Any]] = {}
        self._checks: dict[tuple[str, str], tuple[Workflow | None, list[dict[str, Any]]]] = {}

    # -- helpers ----------------------------------------------------------------------

    def register_secrets(self, text: str) -> list[dict[str, Any]]:
        """Register the values of the secrets ``text`` names with the redactor (before
        anything could show them) and list them by name: ``[{name, set}]``."""
        found = []
        for name in template_names(text)["secrets"]:
            value = self.config.environ.get(name)
            if value:
                REDACTOR.add(value, source=name)
            found.append({"name": name, "set": bool(value)})
        return found

    def state_dir(self) -> Path:
        """The run history's folder: ``TASK_RUNNER_STATE_DIR`` when it is under the root,
        else ``.task-runner`` under the root."""
        configured = self.config.environ.get("TASK_RUNNER_STATE_DIR")
        root = self.workspace.root
        if configured:
            path = Path(configured).resolve()
            if path.is_relative_to(root):
                return path
        return root / ".task-runner"

    def last_tests(self, workflow: str, tasks: list[str]) -> dict[str, dict[str, Any]]:
        """Each task's latest recording in brief: ``{task: {status, http_status,
        recorded_at}}``; a recording file is read once (they never change)."""
        from task_runner.errors import LoadError

        latest: dict[str, dict[str, Any]] = {}
        for task in tasks:
            path = self.store.latest(workflow, task)
            if path is None:
                continue
            if path not in self._briefs:
                try:
                    data = self.store.load(path)
                except LoadError:
                    continue
                result = data.get("result") or {}
                self._briefs[path] = {
                    "status": result.get("status"),
                    "http_status": result.get("http_status"),
                    "recorded_at": data.get("recorded_at"),
                }
            latest[task] = self._briefs[path]
        return latest

    def checked(self, rel: str, text: str) -> tuple[Workflow | None, list[dict[str, Any]]]:
        """:meth:`Workspace.check` of ``text``, remembered by its digest (the page asks
        every few seconds; the catalogue does not change while the studio runs)."""
        key = (rel, sha256_text(text) or "")
        if key not in self._checks:
            if len(self._checks) > 256:
                self._checks.clear()
            self._checks[key] = self.workspace.check(rel, text)
        return self._checks[key]

    def describe(self, rel: str, text: str) -> dict[str, Any]:
        """One workflow file for the list: tasks, errors, last tests, schedule."""
        secrets = self.register_secrets(text)
        workflow, errors = self.checked(rel, text)
        errors = [dict(e) for e in errors]
        info: dict[str, Any] = {
            "path": rel,
            "sha256": sha256_text(text),
            "valid": not errors,
            "errors": errors,
            "secrets": secrets,
            "env": template_names(text)["env"],
            "name": None,
            "tasks": [],
            "inputs": [],
            "connections": [],
            "schedule": None,
        }
        if workflow is None:
            return info
        tests = self.last_tests(workflow.name, list(workflow.tasks))
        info["name"] = workflow.name
        info["tasks"] = [_task_json(workflow, name, tests.get(name)) for name in workflow.tasks]
        info["inputs"] = [
            {
                "name": name,
                "type": spec.schema.get("type"),
                "description": spec.schema.get("description", ""),
                "default": spec.schema.get("default"),
                "required": not spec.has_default,
                "schema": dict(spec.schema),
            }
            for name, spec in workflow.inputs.items()
        ]
        info["connections"] = [
            {"name": name, "api": spec.api} for name, spec in workflow.connections.items()
        ]
        info["schedule"] = _schedule_json(workflow)
        return info

    def overrides(self, workflow: Workflow) -> dict[str, Any]:
        if self.config.emulator is None:
            return {}
        from task_runner.runner.emulated import emulated_connections

        return dict(emulated_connections(workflow, self.config.emulator))

    def run_test(
        self, job: Job, rel: str, text: str, task: str, inputs: dict[str, Any], pages: int
    ) -> dict[str, Any]:
        """``test-request`` for ``task`` of the workflow ``text`` (the file ``rel``)."""
        from task_runner.contract import outcome_json, shown_headers
        from task_runner.recording.estimate import full_run_line
        from task_runner.recording.followup import follow_up
        from task_runner.recording.har import to_har, write_har
        from task_runner.recording.session import run_task_once
        from task_runner.workflow.inputs import InputText

        self.register_secrets(text)
        with self.workspace.staged_workflow(rel, text) as workflow:
            staged = str(workflow.path)
            workflow.path = self.workspace.file(rel)  # recordings name the real file
            values = {k: InputText(str(v)) for k, v in inputs.items() if v not in (None, "")}
            outcome = run_task_once(
                workflow,
                task,
                values,
                store=self.store,
                record=True,
                max_pages=pages,
                max_items=1,  # as test-request: a for_each task runs its first item only
                connection_overrides=self.overrides(workflow),
                emulated=self.config.emulator is not None,
                notify=job.notes.append,
                cancel=job.cancel,
            )
            har = None
            if outcome.recording is not None and outcome.recording_path is not None:
                har = write_har(
                    to_har(outcome.recording), outcome.recording_path.with_suffix(".har")
                )
            done = follow_up(workflow, outcome, self.store, compare=True)
            payload = outcome_json(outcome, har)
            responses = payload.get("responses") or []
            first = responses[0] if responses else {}
            payload["shown_headers"] = shown_headers(first.get("headers") or {})
            payload["estimate"] = (
                full_run_line(outcome.recording, workflow) if outcome.recording else None
            )
            payload["review"] = done.json
            payload["notes"] = done.notes
            if payload.get("error"):  # file:line:col names the user's file, not the copy
                payload["error"] = str(payload["error"]).replace(staged, rel)
            payload["items"] = outcome.result.item_count
            payload["pages"] = outcome.result.pages
            for key in ("recording", "har", "output"):
                if payload.get(key):
                    payload[key] = self._shown_path(str(payload[key]))
            return payload

    def _shown_path(self, path: str) -> str:
        try:
            return Path(path).resolve().relative_to(self.workspace.root).as_posix()
        except ValueError:
            return Path(path).name

    def recording_path(self, ref: str) -> Path:
        """A recording file under the studio's recordings folder, or UsageError."""
        candidate = (self.workspace.root / ref).resolve()
        if not candidate.is_relative_to(self.store.root.resolve()) or candidate.suffix != ".json":
            raise UsageError(f"{ref!r} is not a recording of this studio")
        return candidate


def _task_json(workflow: Workflow, name: str, last: dict[str, Any] | None) -> dict[str, Any]:
    task = workflow.tasks[name]
    operation = workflow.operation(task)
    return {
        "name": name,
        "operation": task.operation,
        "connection": task.connection,
        "method": operation.method if operation else (task.request or {}).get("method", "GET"),
        "path": operation.path if operation else (task.request or {}).get("url", ""),
        "line": task.location.line,
        "params": dict(task.params),
        "last_test": last,
    }


def _schedule_json(workflow: Workflow) -> dict[str, Any] | None:
    spec = workflow.schedule
    if spec is None:
        return None
    import datetime as dt

    from task_runner.scheduling.triggers import build_trigger, describe

    trigger = build_trigger(spec, phase_key=workflow.name)
    now = dt.datetime.now(dt.timezone.utc)
    fires: list[str] = []
    previous = None
    moment = now
    for _ in range(3):
        nxt = trigger.get_next_fire_time(previous, moment)
        if nxt is None:
            break
        fires.append(nxt.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"))
        previous, moment = nxt, nxt + dt.timedelta(seconds=1)
    return {"describe": describe(spec), "next": fires}


def create_app(config: StudioConfig) -> Starlette:
    """The studio's ASGI application (wrapped in :class:`Guard`)."""
    studio = Studio(config)

    async def index(request: Request) -> Response:
        html = _asset("index.html").decode("utf-8")
        html = html.replace("{{TOKEN}}", config.token)
        return _secure(HTMLResponse(html))

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if not re.fullmatch(r"[a-z0-9_-]+\.(js|css|svg)", name):
            return _plain(404, "not found")
        try:
            data = _asset(name)
        except FileNotFoundError:
            return _plain(404, "not found")
        return _secure(Response(data, media_type=STATIC_TYPES[Path(name).suffix]))

    @_handles_errors
    async def state(request: Request) -> Response:
        from task_runner import __version__

        return _json(
            {
                "root": config.root.name or str(config.root),
                "emulator": config.emulator is not None,
                "version": __version__,
                "namespaces": ["inputs", "env", "secrets", "tasks", "run"],
                "run_fields": ["id", "workflow", "window_start", "window_end", "started_at"],
            }
        )

    @_handles_errors
    async def workflows(request: Request) -> Response:
        files = []
        for path in studio.workspace.workflow_files():
            rel = studio.workspace.rel(path)
            text = studio.workspace.read(rel) or ""
            files.append(studio.describe(rel, text))
        return _json({"workflows": files})

    @_handles_errors
    async def workflow(request: Request) -> Response:
        rel = request.query_params.get("path", "")
        text = studio.workspace.read(rel)
        if text is None:
            return _json({"path": rel, "exists": False, "text": "", "sha256": None})
        return _json({**studio.describe(rel, text), "exists": True, "text": text})

    @_handles_errors
    async def search(request: Request) -> Response:
        from task_runner.contract import search_json

        query = request.query_params.get("q", "")
        found = search_json(config.catalogue, query)
        return _json({"query": query, "total": len(found), "results": found[:SEARCH_LIMIT]})

    @_handles_errors
    async def operation(request: Request) -> Response:
        from task_runner.contract import operation_json

        definition = config.catalogue.get(request.query_params.get("id", ""))
        profile = config.catalogue.profile(definition.api) if definition.api else None
        return _json(
            {
                "operation": operation_json(definition),
                "params_schema": definition.params_schema,
                "profile": _profile_json(profile),
            }
        )

    @_handles_errors
    async def draft(request: Request) -> Response:
        data = await _body(request)
        built = studio.workspace.draft(
            str(data.get("path", "")),
            str(data.get("operation", "")),
            task=data.get("task") or None,
            connection=data.get("connection") or None,
            params=data.get("params") or {},
            inputs=data.get("inputs") or {},
        )
        return _json(built.to_json())

    @_handles_errors
    async def save(request: Request) -> Response:
        data = await _body(request)
        rel = str(data.get("path", ""))
        built = studio.workspace.draft(
            rel,
            str(data.get("operation", "")),
            task=data.get("task") or None,
            connection=data.get("connection") or None,
            params=data.get("params") or {},
        )
        if built.base_sha256 != data.get("base_sha256"):
            raise Conflict(rel, studio.workspace.read(rel))
        digest = studio.workspace.save(rel, built.text, built.base_sha256)
        return _json({"status": "saved", "path": rel, "task": built.task, "sha256": digest})

    def edited(data: dict[str, Any], *, with_inputs: bool = True) -> Any:
        params = data.get("params")
        return studio.workspace.edit(
            str(data.get("path", "")),
            str(data.get("task", "")),
            params=params if params is not None else {},
            connection=data.get("connection") or None,
            inputs=(data.get("inputs") or {}) if with_inputs else {},
        )

    @_handles_errors
    async def task_draft(request: Request) -> Response:
        return _json(edited(await _body(request)).to_json())

    @_handles_errors
    async def task_save(request: Request) -> Response:
        data = await _body(request)
        rel = str(data.get("path", ""))
        base = data.get("base_sha256")
        if not base:
            raise UsageError("base_sha256 is required: the digest of the file the edit began on")
        built = edited(data, with_inputs=False)
        digest = studio.workspace.save(rel, built.text, base)  # Conflict when it changed
        return _json({"status": "saved", "path": rel, "task": built.task, "sha256": digest})

    @_handles_errors
    async def test_start(request: Request) -> Response:
        data = await _body(request)
        rel = str(data.get("path", ""))
        inputs = data.get("inputs") or {}
        pages = int(data.get("pages") or 1)
        if pages < 1:
            raise UsageError("pages must be 1 or more")
        if data.get("edit"):  # an existing task with unsaved changes: test them
            built = edited(data, with_inputs=False)
            text, task = built.text, built.task
        elif data.get("operation"):  # an unsaved task: test the draft
            built = studio.workspace.draft(
                rel,
                str(data["operation"]),
                task=data.get("task") or None,
                connection=data.get("connection") or None,
                params=data.get("params") or {},
            )
            text, task = built.text, built.task
        else:
            found = studio.workspace.read(rel)
            if found is None:
                raise UsageError(f"no workflow file {rel!r}")
            text, task = found, str(data.get("task", ""))
        _confirm_write(studio, rel, text, task, bool(data.get("confirm_write")))
        job = studio.jobs.start(
            rel, task, lambda job: studio.run_test(job, rel, text, task, inputs, pages)
        )
        return _json(job.to_json(), 202)

    @_handles_errors
    async def test_get(request: Request) -> Response:
        job = studio.jobs.get(request.path_params["job"])
        if job is None:
            return _json({"status": "error", "message": "no such test"}, 404)
        return _json(job.to_json())

    @_handles_errors
    async def test_cancel(request: Request) -> Response:
        job = studio.jobs.get(request.path_params["job"])
        if job is None:
            return _json({"status": "error", "message": "no such test"}, 404)
        studio.jobs.cancel(job)
        return _json(job.to_json())

    @_handles_errors
    async def recordings(request: Request) -> Response:
        from task_runner.contract import recordings_json

        workflow_name = request.query_params.get("workflow") or None
        task = request.query_params.get("task")
        listing = recordings_json(studio.store, workflow_name)
        rows = [r for r in listing["recordings"] if not task or r["task"] == task]
        for row in rows:
            row["path"] = studio._shown_path(row["path"])
        return _json({"recordings": rows})

    @_handles_errors
    async def recording(request: Request) -> Response:
        from task_runner.contract import recording_json

        path = studio.recording_path(request.query_params.get("ref", ""))
        data = recording_json(studio.store, path)
        data["path"] = studio._shown_path(data["path"])
        data.pop("workflow_file", None)
        return _json(data)

    @_handles_errors
    async def drift(request: Request) -> Response:
        from task_runner.contract import drift_between

        before = studio.recording_path(request.query_params.get("before", ""))
        after_ref = request.query_params.get("after")
        after = studio.recording_path(after_ref) if after_ref else None
        found = drift_between(studio.store, before, after)
        payload = found.to_json()
        for side in ("before", "after"):
            if payload[side].get("path"):
                payload[side]["path"] = studio._shown_path(payload[side]["path"])
        payload["lines"] = [line for line in found.lines()[2:]]
        return _json(payload)

    @_handles_errors
    async def runs(request: Request) -> Response:
        from task_runner.contract import runs_json
        from task_runner.state import History

        history = History(studio.state_dir() / _history_file())
        if not history.exists():
            return _json({"runs": [], "state_dir": studio._shown_path(str(studio.state_dir()))})
        rows = runs_json(history, workflow=request.query_params.get("workflow") or None, limit=50)
        return _json({"runs": rows, "state_dir": studio._shown_path(str(studio.state_dir()))})

    @_handles_errors
    async def run(request: Request) -> Response:
        from task_runner.contract import run_json
        from task_runner.state import History

        history = History(studio.state_dir() / _history_file())
        if not history.exists():
            raise UsageError("no run history yet")
        return _json(run_json(history, request.query_params.get("id", "")))

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/state", state),
        Route("/api/workflows", workflows),
        Route("/api/workflow", workflow),
        Route("/api/search", search),
        Route("/api/operation", operation),
        Route("/api/draft", draft, methods=["POST"]),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/task/draft", task_draft, methods=["POST"]),
        Route("/api/task/save", task_save, methods=["POST"]),
        Route("/api/test", test_start, methods=["POST"]),
        Route("/api/test/{job}", test_get),
        Route("/api/test/{job}/cancel", test_cancel, methods=["POST"]),
        Route("/api/recordings", recordings),
        Route("/api/recording", recording),
        Route("/api/drift", drift),
        Route("/api/runs", runs),
        Route("/api/run", run),
    ]
    app = Starlette(routes=routes)
    app.state.studio = studio
    app.add_middleware(Guard, config=config)
    return app


def _history_file() -> str:
    from task_runner.state.history import DB_NAME

    return DB_NAME


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


def _profile_json(profile: Any) -> dict[str, Any] | None:
    if profile is None:
        return None
    return {
        "api": profile.api,
        "title": profile.title,
        "auth": list((profile.auth or {}).get("kinds", [])),
        "environments": {
            name: env.api_base_url for name, env in (profile.environments or {}).items()
        },
        "default_environment": profile.default_environment,
        "pagination": (profile.pagination or {}).get("style"),
    }


def _asset(name: str) -> bytes:
    return resources.files("task_runner.studio").joinpath("static").joinpath(name).read_bytes()


def wait_for_jobs(app: Starlette, timeout: float = 5.0) -> None:
    """At shutdown: cancel running test requests (their waits end at once) and give them
    ``timeout`` seconds to end (a response being read finishes first)."""
    studio: Studio = app.state.studio
    studio.jobs.cancel_all()
    studio.jobs.wait_all(timeout)
