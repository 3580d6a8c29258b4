"""The state behind the studio's routes (:class:`Studio`): the workspace of workflow
files, the test-request jobs, the recordings store, and what the page is shown of a
workflow file (tasks, validation, last tests, schedule) and of a test request.

Every secret a file names is registered with the process-wide redactor before anything
could show it, and listed by name only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import UsageError
from task_runner.redact import REDACTOR
from task_runner.studio.jobs import Job, JobBoard
from task_runner.studio.workspace import Workspace, sha256_text, template_names

if TYPE_CHECKING:
    from starlette.requests import Request

    from task_runner.studio.app import StudioConfig
    from task_runner.studio.workspace import Draft
    from task_runner.workflow.model import Workflow

__all__ = ["Studio", "studio_of"]


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
                if len(self._briefs) > 256:  # every test adds a recording: keep it bounded
                    self._briefs.clear()
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
        info["inputs"] = _inputs_json(workflow)
        info["connections"] = [
            {"name": name, "api": spec.api} for name, spec in workflow.connections.items()
        ]
        info["schedule"] = _schedule_json(workflow)
        return info

    def drafted(self, data: dict[str, Any], *, with_inputs: bool) -> Draft:
        """:meth:`Workspace.draft` of a request's ``path``, ``operation``, ``task``,
        ``connection``, ``params`` (and ``inputs`` when ``with_inputs``)."""
        return self.workspace.draft(
            str(data.get("path", "")),
            str(data.get("operation", "")),
            task=data.get("task") or None,
            connection=data.get("connection") or None,
            params=data.get("params") or {},
            inputs=(data.get("inputs") or {}) if with_inputs else None,
        )

    def edited(self, data: dict[str, Any], *, with_inputs: bool = True) -> Draft:
        """:meth:`Workspace.edit` of a request's ``path``, ``task``, ``params``,
        ``connection`` (and ``inputs`` when ``with_inputs``)."""
        params = data.get("params")
        return self.workspace.edit(
            str(data.get("path", "")),
            str(data.get("task", "")),
            params=params if params is not None else {},
            connection=data.get("connection") or None,
            inputs=(data.get("inputs") or {}) if with_inputs else {},
        )

    def overrides(self, workflow: Workflow) -> dict[str, Any]:
        """The emulator's connections for ``workflow`` (none without the emulator)."""
        if self.config.emulator is None:
            return {}
        from task_runner.runner.emulated import emulated_connections

        return dict(emulated_connections(workflow, self.config.emulator))

    def run_test(
        self, job: Job, rel: str, text: str, task: str, inputs: dict[str, Any], pages: int
    ) -> dict[str, Any]:
        """``test-request`` for ``task`` of the workflow ``text`` (the file ``rel``)."""
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
            return self._test_payload(workflow, outcome, har, staged, rel)

    def _test_payload(
        self, workflow: Workflow, outcome: Any, har: Any, staged: str, rel: str
    ) -> dict[str, Any]:
        """A test request's answer: the contract's outcome JSON, the headers worth
        showing, the full-run estimate, the review, and paths as the page shows them."""
        from task_runner.contract import outcome_json, shown_headers
        from task_runner.recording.estimate import full_run_line
        from task_runner.recording.followup import follow_up

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
                payload[key] = self.shown_path(str(payload[key]))
        return payload

    def shown_path(self, path: str) -> str:
        """``path`` as the page shows it: relative to the root, else its name only."""
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


def _inputs_json(workflow: Workflow) -> list[dict[str, Any]]:
    return [
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


def studio_of(request: Request) -> Studio:
    """The :class:`Studio` of the app serving ``request`` (set by ``create_app``)."""
    studio: Studio = request.app.state.studio
    return studio
