"""Render one task for one run: inputs, connection, params -> a ready request.

:class:`Preparer` holds a run's template context (``inputs``, ``env``, ``secrets``,
``tasks``, ``run``), renders each connection once, and turns a task into a
:class:`PreparedTask`: the :class:`PreparedRequest` plus the policies the send path needs.
Templates were compiled when the workflow loaded; here they are only called.

Example::

    preparer = Preparer(workflow, {"company_id": 8089, "project_id": 777}, RunContext.now("wf"))
    prepared = preparer.prepare("list_images")
    prepared.request.full_url()
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from task_runner.errors import (
    InputError,
    InputErrors,
    SchemaValidationError,
    UsageError,
    raise_if_any,
)
from task_runner.model import (
    DEFAULT_MAX_BODY_BYTES,
    AuthConfig,
    ConnectionConfig,
    Expect,
    Pagination,
    PreparedRequest,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from task_runner.redact import REDACTOR
from task_runner.workflow.conventions import rate_limit_headers, task_pagination, task_retry
from task_runner.workflow.inputs import input_value
from task_runner.workflow.model import TaskSpec, Workflow, path_text
from task_runner.workflow.params import validate_rendered_params
from task_runner.workflow.request_builder import (
    build_operation_request,
    build_raw_request,
    build_url_request,
    url_template,
)
from task_runner.workflow.templating import Namespace, SecretsNamespace, is_template
from task_runner.workflow.yaml_loader import locate

if TYPE_CHECKING:
    from task_runner.catalogue.profile import ApiProfile

__all__ = ["ConnectionPatch", "PreparedTask", "Preparer", "RunContext", "resolve_inputs"]

_AUTH_PUBLIC_FIELDS = frozenset(
    {
        "type",
        "token_url",
        "scope",
        "refresh_margin",
        "token_timeout",
        "in",
        "name",
        "username",
        "token_store",
    }
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class RunContext:
    """The ``run.*`` variables of one run."""

    id: str
    workflow: str
    trigger: str = "manual"
    started_at: dt.datetime = field(default_factory=_utcnow)
    scheduled_at: dt.datetime | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    previous_success_at: dt.datetime | None = None

    @classmethod
    def now(
        cls,
        workflow: str,
        *,
        trigger: str = "manual",
        lookback: float = 86400.0,
        lag: float = 0.0,
    ) -> RunContext:
        """A run starting now whose window is the ``lookback`` seconds that end ``lag``
        seconds ago (see :mod:`task_runner.runner.windows`)."""
        started = _utcnow()
        end = started - dt.timedelta(seconds=lag)
        return cls(
            id=new_run_id(),
            workflow=workflow,
            trigger=trigger,
            started_at=started,
            scheduled_at=started,
            window_start=end - dt.timedelta(seconds=lookback),
            window_end=end,
        )

    def namespace(self) -> Namespace:
        return Namespace(
            "run",
            {
                "id": self.id,
                "workflow": self.workflow,
                "trigger": self.trigger,
                "started_at": self.started_at,
                "scheduled_at": self.scheduled_at or self.started_at,
                "window_start": self.window_start,
                "window_end": self.window_end,
                "previous_success_at": self.previous_success_at,
            },
        )


def new_run_id() -> str:
    """Sortable and unique: ``20261127T223300Z-1a2b3c4d``."""
    return _utcnow().strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class ConnectionPatch(ConnectionConfig):
    """Re-point a connection (``--emulator``): its ``base_url``, ``auth`` and ``verify``
    replace the workflow's, its ``allowed_hosts`` join the workflow's (the emulator's
    file host); headers, rate limit and concurrency stay as written."""


@dataclass(frozen=True)
class PreparedTask:
    """Everything the send path needs for one task."""

    name: str
    request: PreparedRequest
    connection: ConnectionConfig
    pagination: Pagination
    retry: RetryPolicy
    timeout: Timeout
    expect: Expect
    output_jsonl: str | None
    operation_id: str | None
    params: Mapping[str, Any]
    #: ``output.files.path`` rendered for this item (None: the task writes no files)
    files_path: str | None = None
    #: ``output`` sinks besides jsonl and files: {kind: settings, templates rendered}
    sinks: Mapping[str, Any] = field(default_factory=dict)


def resolve_inputs(workflow: Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults + given values, read by each input's type and checked against its schema.

    Command-line text (:class:`~task_runner.workflow.inputs.InputText`, from
    ``parse_inputs``) is read by the input's declared type, so ``0777`` is refused for an
    integer and stays ``"0777"`` for a string; Python values are coerced losslessly. Every
    mistake is raised at once::

        resolve_inputs(workflow, parse_inputs(["project_id=777"]))  # {"project_id": 777, ...}
    """
    errors: list[InputError] = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in workflow.inputs:
            known = ", ".join(workflow.inputs) or "none"
            errors.append(
                UsageError(f"--input {name}: the workflow has no input {name!r} (inputs: {known})")
            )
    for name, spec in workflow.inputs.items():
        if name in given:
            try:
                value = input_value(name, given[name], spec.schema)
            except (InputError, InputErrors) as exc:
                refused = exc.errors if isinstance(exc, InputErrors) else [exc]
                for error in refused:  # where the input and its type are declared
                    error.location = error.location or spec.location
                    error.path = error.path or f"inputs.{name}"
                errors.extend(refused)
                continue
        elif spec.has_default:
            value = spec.schema["default"]
        else:
            errors.append(
                UsageError(
                    f"input {name!r} is required",
                    location=spec.location,
                    hint=f"pass --input {name}=VALUE or give it a default",
                )
            )
            continue
        from jsonschema import Draft202012Validator  # a run without inputs never needs it

        from task_runner.formats import FORMAT_CHECKER

        for problem in Draft202012Validator(
            dict(spec.schema), format_checker=FORMAT_CHECKER
        ).iter_errors(value):
            errors.append(
                SchemaValidationError(
                    f"input {name}: {problem.message}",
                    location=spec.location,
                    path=f"inputs.{name}",
                )
            )
        values[name] = value
    raise_if_any(errors)
    return values


class Preparer:
    """Renders a workflow's tasks for one run; thread-safe, shares compiled templates."""

    def __init__(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any],
        run: RunContext,
        *,
        environ: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        connection_overrides: Mapping[str, ConnectionConfig] | None = None,
    ) -> None:
        self.workflow = workflow
        self.run = run
        environ = os.environ if environ is None else environ
        self.tasks_ns = Namespace("tasks", {})
        self.context: dict[str, Any] = {
            "inputs": Namespace("inputs", inputs),
            "env": Namespace("env", dict(environ)),
            "secrets": secrets if secrets is not None else SecretsNamespace(environ),
            "tasks": self.tasks_ns,
            "run": run.namespace(),
        }
        self._overrides = dict(connection_overrides or {})
        self._connections: dict[str, ConnectionConfig] = {}
        self._lock = threading.Lock()

    def set_output(self, task: str, output: Mapping[str, Any]) -> None:
        """Make a finished task's output readable as ``tasks.<name>.output``."""
        self.tasks_ns[task] = Namespace(
            f"tasks.{task}", {"output": Namespace(f"tasks.{task}.output", output)}
        )

    def _render(self, value: Any, path: list[Any], context: Mapping[str, Any] | None = None) -> Any:
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        if isinstance(value, str) and not is_template(value):
            return value
        try:
            return self.workflow.templates.render_value(value, context or self.context)
        except InputError as exc:
            # Where it went wrong is only worked out when something did (the hot path is lean).
            exc.location = exc.location or locate(self.workflow.data, path)
            exc.path = exc.path or path_text(path)
            raise

    def connection(self, name: str) -> ConnectionConfig:
        """The rendered connection (rendered once per run).

        An override is either a whole :class:`ConnectionConfig` or a
        :class:`ConnectionPatch` that replaces only where the connection points and how it
        authenticates (``--emulator``), keeping its headers, rate limit and concurrency.
        """
        with self._lock:
            if name in self._connections:
                return self._connections[name]
        override = self._overrides.get(name)
        if override is None or isinstance(override, ConnectionPatch):
            config = self._render_connection(name, override)
        else:
            config = override
        with self._lock:
            return self._connections.setdefault(name, config)

    def _render_connection(self, name: str, patch: ConnectionPatch | None) -> ConnectionConfig:
        with self.workflow.templates.budget():
            return self._render_connection_values(name, patch)

    def _render_connection_values(
        self, name: str, patch: ConnectionPatch | None
    ) -> ConnectionConfig:
        from task_runner.durations import parse_duration

        data = self.workflow.connections[name].data
        base = ["connections", name]
        rate = data.get("rate_limit")
        headers = data.get("headers") or {}
        return ConnectionConfig(
            name=name,
            api=data.get("api"),
            base_url=patch.base_url
            if patch
            else str(self._render(data["base_url"], [*base, "base_url"])),
            auth=patch.auth
            if patch
            else self._render_auth(data.get("auth") or {"type": "none"}, base),
            headers={k: str(self._render(v, [*base, "headers", k])) for k, v in headers.items()},
            verify=patch.verify
            if patch
            else self._render(data.get("verify", True), [*base, "verify"]),
            rate_limit=RateLimit(int(rate["requests"]), parse_duration(rate["per"]))
            if rate
            else None,
            max_concurrency=int(data.get("max_concurrency", 4)),
            adaptive="max_concurrency" not in data,  # issue 15: pages follow the API
            allowed_hosts=frozenset(str(h).lower() for h in data.get("allowed_hosts") or ())
            | (patch.allowed_hosts if patch else frozenset()),
            rate_limit_headers=rate_limit_headers(self._profile(data.get("api"))),
            max_body_bytes=int(data["max_body_bytes"]) if data.get("max_body_bytes") else None,
        )

    def _render_auth(self, raw: Mapping[str, Any], base: list[Any]) -> AuthConfig:
        from task_runner.durations import parse_duration

        values = {k: self._render(v, [*base, "auth", k]) for k, v in raw.items()}
        for key, value in values.items():
            # every setting of an auth block is a secret but the few known to be public
            # (so a new auth kind's secrets are redacted with no list to keep in step)
            if key not in _AUTH_PUBLIC_FIELDS:
                REDACTOR.add(value, source=f"auth.{key}")
        scheme = self._auth_scheme(base, str(values.get("type", "none")))
        return AuthConfig(
            type=values.get("type", "none"),
            token=values.get("token"),
            token_url=values.get("token_url"),
            client_id=values.get("client_id"),
            client_secret=values.get("client_secret"),
            refresh_token=values.get("refresh_token"),
            token_store=values.get("token_store"),
            scope=values.get("scope"),
            refresh_margin=parse_duration(values.get("refresh_margin", 60)),
            token_timeout=parse_duration(values.get("token_timeout", 60)),
            key=values.get("key"),
            key_in="query" if values.get("in", scheme.get("in")) == "query" else "header",
            key_name=values.get("name") or scheme.get("name"),
            username=None if values.get("username") is None else str(values["username"]),
            password=None if values.get("password") is None else str(values["password"]),
        )

    def _auth_scheme(self, base: list[Any], kind: str) -> Mapping[str, Any]:
        """The API profile's security scheme of ``kind`` (defaults for ``in``/``name``)."""
        api = self.workflow.connections[base[1]].data.get("api")
        profile = self._profile(api)
        schemes = (profile.auth.get("schemes") if profile else None) or {}
        return next(
            (s for s in schemes.values() if isinstance(s, Mapping) and s.get("kind") == kind),
            {},
        )

    def should_run(self, name: str) -> bool:
        """The task's ``when:`` condition, rendered now (True when it has none)."""
        task = self.workflow.task(name)
        if task.when is None:
            return True
        value = self._render(task.when, ["tasks", name, "when"])
        if isinstance(value, str):
            return value.strip().lower() not in ("", "false", "0", "no", "none")
        return bool(value)

    def prepare(self, name: str, scope: Mapping[str, Any] | None = None) -> PreparedTask:
        """Render, coerce, validate and build ``name``'s request; raise every mistake at once.

        ``scope``: names templates read besides the run's (``item`` and ``index`` of a
        ``for_each`` task). Everything one task renders (its connection included) shares
        one template budget (:mod:`task_runner.workflow.render_budget`), so many small
        bombs add up to one.
        """
        task = self.workflow.task(name)
        if scope is None and task.for_each is not None:
            scope = self._first_item(name)  # a preview (--dry-run) shows the first item's
        with self.workflow.templates.budget():
            return self._prepare(name, {**self.context, **scope} if scope else self.context)

    def _first_item(self, name: str) -> dict[str, Any]:
        from task_runner.runner.fanout import iter_items

        for item in iter_items(self.render_for_each(name), task=name):
            return {"item": item, "index": 0}
        raise UsageError(
            f"task {name!r} has no items to show: its for_each gave an empty list",
            location=self.workflow.task(name).location,
        )

    def render_for_each(self, name: str) -> Any:
        """The rendered ``for_each.items`` of ``name``: a list, or a JSONL file path."""
        task = self.workflow.task(name)
        assert task.for_each is not None
        path: list[Any] = ["tasks", name, "for_each"]
        if not isinstance(task.data.get("for_each"), str):
            path.append("items")
        with self.workflow.templates.budget():
            return self._render(task.for_each.items, path)

    def render_output_jsonl(self, name: str) -> str | None:
        """``output.jsonl`` of ``name`` rendered (for_each tasks render it once)."""
        task = self.workflow.task(name)
        if not task.output_jsonl:
            return None
        with self.workflow.templates.budget():
            return str(self._render(task.output_jsonl, ["tasks", name, "output", "jsonl"]))

    def render_sinks(self, name: str) -> dict[str, Any]:
        """``output`` sinks of ``name`` (besides jsonl and files), templates rendered."""
        task = self.workflow.task(name)
        base: list[Any] = ["tasks", name, "output"]
        with self.workflow.templates.budget():
            return {
                kind: self._render(settings, [*base, kind]) for kind, settings in task.sinks.items()
            }

    def _prepare(self, name: str, context: Mapping[str, Any]) -> PreparedTask:
        task = self.workflow.task(name)
        base: list[Any] = ["tasks", name]
        connection = self.connection(task.connection) if task.connection else None
        operation = self.workflow.operation(task)
        if operation is not None:
            assert connection is not None
            rendered = {
                k: self._render(v, [*base, "params", k], context) for k, v in task.params.items()
            }
            params = validate_rendered_params(
                operation,
                rendered,
                task.params,
                path=[*base, "params"],
                locate=lambda p, key=False: locate(self.workflow.data, p, key=key) or task.location,
            )
            profile = self._profile(connection.api or operation.api)
            arrays = str((profile.query_encoding if profile else {}).get("arrays") or "brackets")
            try:
                request = build_operation_request(
                    operation, params, connection, task=name, arrays=arrays
                )
            except InputError as exc:
                self._locate_param_error(exc, task)
                raise
        elif task.url is not None:
            url = str(self._render(task.url, [*base, "url"], context))
            params = {"url": url}
            request = build_url_request(url, connection, task=name)
        else:
            spec = task.request or {}
            template = dict(spec)
            if isinstance(template.get("url"), str):
                template["url"] = url_template(template["url"])
            rendered = self._render(template, [*base, "request"], context)
            params = rendered
            profile = self._profile(connection.api) if connection else None
            arrays = str((profile.query_encoding if profile else {}).get("arrays") or "brackets")
            request = build_raw_request(spec, rendered, connection, task=name, arrays=arrays)
        output = (
            self._render(task.output_jsonl, [*base, "output", "jsonl"], context)
            if task.output_jsonl
            else None
        )
        files_path = (
            str(self._render(task.files.path, [*base, "output", "files", "path"], context))
            if task.files is not None
            else None
        )
        if connection is None:
            connection = _anonymous_connection(request.url)
        profile = self._profile(connection.api or (operation.api if operation else None))
        pagination, items_at = task_pagination(task, operation, profile)
        expect = replace(task.expect, items_at=items_at) if items_at else task.expect
        if connection.max_body_bytes and expect.max_body_bytes == DEFAULT_MAX_BODY_BYTES:
            # the connection's cap, unless the task (or the workflow's defaults) chose one
            expect = replace(expect, max_body_bytes=connection.max_body_bytes)
        return PreparedTask(
            name=name,
            request=request,
            connection=connection,
            pagination=pagination,
            retry=task_retry(task, profile),
            timeout=task.timeout,
            expect=expect,
            output_jsonl=output,
            operation_id=task.operation,
            params=params,
            files_path=files_path,
        )

    def _profile(self, api: str | None) -> ApiProfile | None:
        """The API profile of ``api`` (None for raw requests to no known API)."""
        if not api:
            return None
        try:
            return self.workflow.catalogue.profile(api)
        except InputError:
            return None  # an unreadable profile was reported when the workflow loaded

    def _locate_param_error(self, exc: InputError, task: TaskSpec) -> None:
        """Point an error about ``<task>.params.<name>`` at that parameter's value."""
        prefix = f"{task.name}.params."
        if exc.location is None and exc.path and exc.path.startswith(prefix):
            key = exc.path[len(prefix) :]
            exc.location = (
                locate(self.workflow.data, ["tasks", task.name, "params", key]) or task.location
            )


def _anonymous_connection(url: str) -> ConnectionConfig:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return ConnectionConfig(
        name=f"{parts.scheme}://{parts.netloc}", base_url=f"{parts.scheme}://{parts.netloc}"
    )
