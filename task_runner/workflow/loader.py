"""Load a workflow file: YAML with locations -> schema check -> references -> Workflow.

Every mistake found is collected and raised together (:class:`InputErrors`), sorted by
location, before anything is sent.

Example::

    workflow = load_workflow("examples/workflows/procore_images.yaml")
    workflow.order()   # ["list_images"]
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import graphlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError

from task_runner.durations import parse_duration
from task_runner.errors import (
    InputError,
    InputErrors,
    LoadError,
    SchemaValidationError,
    SourceLocation,
    TaskRunnerError,
    TemplateError,
    UnresolvedReferenceError,
    did_you_mean,
)
from task_runner.model import Expect, Pagination, RetryPolicy, Timeout
from task_runner.workflow.limits import excerpt, shorten
from task_runner.workflow.model import (
    FAILURE_POLICIES,
    ConnectionSpec,
    FilesSpec,
    ForEachSpec,
    InputSpec,
    ScheduleSpec,
    TaskSpec,
    WindowSpec,
    Workflow,
    path_text,
)
from task_runner.workflow.params import check_literal_params
from task_runner.workflow.templating import FILTERS, RUN_VARIABLES, TemplateEngine, is_template
from task_runner.workflow.yaml_loader import LocatedDict, load_yaml_file, load_yaml_text, locate

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    from task_runner.catalogue import Catalogue

__all__ = [
    "filter_extension",
    "load_workflow",
    "structure_checks_cached_in",
    "workflow_schema_path",
    "workflow_validator",
]

log = logging.getLogger("task_runner.workflow")

_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")


def filter_extension(value: Any) -> str:
    """The ``extension`` template filter: ``IMG_0001.JPG`` -> ``.jpg``, the file name's
    extension in lower case, or ``""`` when it has none made of letters and digits, so
    a value from a response can never add a path separator or ``..`` to a file path
    (``output.files.path: "photos/{{ item.id }}{{ item.filename | extension }}"``)."""
    name = str(value or "").replace("\\", "/").rsplit("/", 1)[-1]
    found = _EXTENSION.search(name)
    return found.group(0).lower() if found and found.start() > 0 else ""


FILTERS.setdefault("extension", filter_extension)


def workflow_schema_path() -> Path:
    """``schemas/workflow.schema.json`` of the source tree or of the installed data."""
    from task_runner.catalogue.catalogue import repo_root

    return repo_root() / "schemas" / "workflow.schema.json"


@functools.lru_cache(maxsize=1)
def workflow_validator() -> Draft202012Validator:
    """The workflow schema's validator, compiled once per process."""
    from jsonschema import Draft202012Validator

    from task_runner.catalogue.editor_schema import structural
    from task_runner.formats import FORMAT_CHECKER

    # params are checked against their operation below, after rendering, not here
    schema = structural(json.loads(workflow_schema_path().read_text(encoding="utf-8")))
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


#: Where :func:`load_workflow` remembers the workflows that passed the schema check
#: (see :func:`structure_checks_cached_in`); ``None``: none are remembered.
_STRUCTURE_CACHE: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "structure_cache", default=None
)
_CHECKED_FILE = "schema-checked"
_CHECKED_KEEP = 64  # digests kept: a few versions of a few dozen workflows


@contextlib.contextmanager
def structure_checks_cached_in(directory: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, :func:`load_workflow` remembers in ``directory`` (a state
    directory; ``None``: nowhere) which workflows passed the schema check, so that a
    later process loading the same workflow skips importing and running ``jsonschema``
    (about a tenth of a small run's start-up). What is remembered is a 16-byte BLAKE2b
    digest of the parsed workflow (its values' ``repr``), the schema file's
    bytes and the code that checks it (task-runner's version, the checking modules'
    and jsonschema's file stamps), so any change to one of them checks again. Only
    passes are remembered, never errors; the other checks of :func:`load_workflow`
    (references, templates, the graph) run every time. The file is best-effort: one
    that cannot be read or written means the check runs, as without a cache.
    """
    token = _STRUCTURE_CACHE.set(Path(directory) if directory is not None else None)
    try:
        yield
    finally:
        _STRUCTURE_CACHE.reset(token)


def _structure_digest(data: Any) -> str | None:
    """The digest naming ``data`` checked against today's schema and code (or ``None``
    when ``data`` cannot be serialized)."""
    import importlib.util

    from task_runner import __version__

    digest = hashlib.blake2b(digest_size=16)
    try:
        # the values' repr: exact for what YAML loads (quoted strings, typed numbers,
        # dates); locations are left out, as only a pass (no message) is remembered
        digest.update(repr(data).encode("utf-8", "surrogatepass"))
        digest.update(workflow_schema_path().read_bytes())
        jsonschema_spec = importlib.util.find_spec("jsonschema")
        here = Path(__file__)
        code = [here, here.with_name("yaml_loader.py"), here.parents[1] / "formats.py"]
        code.append(here.parents[1] / "catalogue" / "editor_schema.py")
        if jsonschema_spec is not None and jsonschema_spec.origin:
            code.append(Path(jsonschema_spec.origin))
        stamps = [__version__]
        for name in code:
            info = os.stat(name)
            stamps.append(f"{name}:{info.st_size}:{info.st_mtime_ns}")
    except (OSError, ValueError, TypeError, RecursionError):
        return None
    digest.update("\n".join(stamps).encode())
    return digest.hexdigest()


def _checked_before(directory: Path, digest: str) -> bool:
    try:
        return digest in (directory / _CHECKED_FILE).read_text(encoding="ascii").split()
    except (OSError, UnicodeError):
        return False


def _remember_checked(directory: Path, digest: str) -> None:
    """Add ``digest`` to the directory's list (temp file + ``os.replace``: a reader sees
    the old list or the new one; two runs racing lose one entry, which costs a check)."""
    path = directory / _CHECKED_FILE
    try:
        try:
            known = path.read_text(encoding="ascii").split()
        except (OSError, UnicodeError):
            known = []
        kept = [d for d in known if d != digest][-(_CHECKED_KEEP - 1) :]
        known = [*kept, digest]
        directory.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f"{_CHECKED_FILE}.{os.getpid()}.tmp")
        temp.write_text("\n".join(known) + "\n", encoding="ascii")
        os.replace(temp, path)
    except OSError as exc:
        log.debug("could not remember the schema check in %s: %s", directory, exc)


def load_workflow(
    path: str | Path,
    *,
    catalogue: Catalogue | None = None,
    definitions: Sequence[str] = (),
    text: str | None = None,
) -> Workflow:
    """Load and statically check a workflow file; raise every mistake at once.

    The file is read within the limits of :mod:`task_runner.workflow.limits` (its size, and
    its values with aliases expanded), before anything walks its data. With ``text``, that
    text is checked as the content of ``path`` and the file is not read (an editor's
    unsaved buffer; locations still name ``path``).
    """
    if catalogue is None:
        from task_runner.catalogue import Catalogue

        catalogue = Catalogue.load(definitions)
    file = str(path)
    data = load_yaml_file(path) if text is None else load_yaml_text(text, file)
    if not isinstance(data, LocatedDict):
        raise LoadError(
            "a workflow file must be a mapping with name, connections and tasks",
            location=getattr(data, "location", SourceLocation(file, 1, 1)),
        )
    builder = _Builder(Path(path), data, catalogue)
    return builder.build()


class _Builder:
    def __init__(self, path: Path, data: LocatedDict, catalogue: Catalogue) -> None:
        self.path = path
        self.file = str(path)
        self.data = data
        self.catalogue = catalogue
        self.errors: list[InputError] = []
        self.templates = TemplateEngine()
        self.windowed: set[str] = set()  # tasks whose templates read the run's window

    # -- helpers -------------------------------------------------------------------------

    def loc(self, path: Sequence[Any], *, key: bool = False) -> SourceLocation:
        return locate(self.data, path, key=key) or SourceLocation(self.file, 1, 1)

    def error(
        self,
        cls: type[InputError],
        message: str,
        path: Sequence[Any],
        *,
        key: bool = False,
        hint: str | None = None,
    ) -> None:
        task = str(path[1]) if len(path) > 1 and path[0] == "tasks" else None
        self.errors.append(
            cls(
                message,
                location=self.loc(path, key=key),
                path=path_text(path),
                task=task,
                hint=hint,
            )
        )

    # -- phases --------------------------------------------------------------------------

    def build(self) -> Workflow:
        self.check_structure()
        structurally_valid = not self.errors
        inputs = self.build_inputs()
        connections = self.build_connections()
        tasks = self.build_tasks(structurally_valid)
        workflow = Workflow(
            path=self.path,
            name=str(self.data.get("name", self.path.stem)),
            description=str(self.data.get("description", "")),
            inputs=inputs,
            connections=connections,
            tasks=tasks,
            schedule=self.build_schedule(),
            window=self.build_window(),
            data=self.data,
            templates=self.templates,
            catalogue=self.catalogue,
        )
        self.check_tasks(workflow)
        self.check_graph(workflow)
        self.check_fanout(workflow)
        if self.errors:
            raise InputErrors(self.errors)
        return workflow

    def check_fanout(self, workflow: Workflow) -> None:
        """File paths, output attributes, keys and item fields of fan-out tasks."""
        from task_runner.workflow.fanout_checks import fanout_errors

        self.errors.extend(fanout_errors(workflow, self.loc))

    def check_structure(self) -> None:
        cache = _STRUCTURE_CACHE.get()
        digest = _structure_digest(self.data) if cache is not None else None
        if cache is not None and digest is not None and _checked_before(cache, digest):
            return
        before = len(self.errors)
        for error in workflow_validator().iter_errors(self.data):
            self.report_schema_error(error)
        if cache is not None and digest is not None and len(self.errors) == before:
            _remember_checked(cache, digest)

    def report_schema_error(self, error: ValidationError) -> None:
        from jsonschema.exceptions import best_match

        if error.validator in ("oneOf", "anyOf") and error.context:
            deepest = best_match(error.context)
            if deepest is not None and list(deepest.absolute_path) != list(error.absolute_path):
                error = deepest
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = list(error.schema.get("properties", {}))
            for key in error.instance:
                if key not in allowed:
                    self.error(
                        SchemaValidationError,
                        f"unknown key {excerpt(key)}",
                        [*path, key],
                        key=True,
                        hint=did_you_mean(str(key), allowed) or "allowed: " + ", ".join(allowed),
                    )
            return
        if error.validator == "required" and isinstance(error.instance, Mapping):
            self.error(SchemaValidationError, error.message.replace("property", "key"), path)
            return
        if error.validator == "propertyNames":
            self.error(
                SchemaValidationError,
                f"{excerpt(error.instance)} is not a valid name: use letters, digits and _",
                [*path, error.instance],
                key=True,
            )
            return
        message = shorten(error.message)  # jsonschema's messages quote the whole value
        if error.validator in ("oneOf", "anyOf") and error.validator_value:
            message = f"{excerpt(error.instance)} is not valid here"
            described = error.schema.get("description")
            if described:
                message += f": {described}"
        self.error(SchemaValidationError, message, path)

    def build_inputs(self) -> dict[str, InputSpec]:
        raw = self.data.get("inputs") or {}
        specs: dict[str, InputSpec] = {}
        if not isinstance(raw, Mapping):
            return specs
        for name, schema in raw.items():
            if isinstance(schema, Mapping):
                specs[str(name)] = InputSpec(
                    str(name), dict(schema), self.loc(["inputs", name], key=True)
                )
                if "default" in schema:
                    self.check_default(str(name), schema)
        return specs

    def check_default(self, name: str, schema: Mapping[str, Any]) -> None:
        from jsonschema import Draft202012Validator

        from task_runner.formats import FORMAT_CHECKER

        try:
            validator = Draft202012Validator(dict(schema), format_checker=FORMAT_CHECKER)
            for err in validator.iter_errors(schema["default"]):
                self.error(
                    SchemaValidationError,
                    f"default {shorten(err.message)}",
                    ["inputs", name, "default"],
                )
        except Exception as exc:  # an invalid input schema: reported by the structure check
            self.error(
                SchemaValidationError, f"invalid input type: {shorten(str(exc))}", ["inputs", name]
            )

    def build_connections(self) -> dict[str, ConnectionSpec]:
        raw = self.data.get("connections") or {}
        out: dict[str, ConnectionSpec] = {}
        if not isinstance(raw, Mapping):
            return out
        for name, conn in raw.items():
            if not isinstance(conn, Mapping):
                continue
            out[str(name)] = ConnectionSpec(
                str(name), conn, self.loc(["connections", name], key=True)
            )
            self.check_templates(conn, ["connections", name], task=None)
            api = conn.get("api")
            if isinstance(api, str) and self.catalogue.profile(api) is None:
                self.error(
                    UnresolvedReferenceError,
                    f"unknown API profile {excerpt(api)}",
                    ["connections", name, "api"],
                    hint="see `task-runner apis list` for the APIs in the catalogue",
                )
        return out

    def build_schedule(self) -> ScheduleSpec | None:
        raw = self.data.get("schedule")
        if not isinstance(raw, Mapping):
            return None
        try:
            spec = ScheduleSpec(
                cron=raw.get("cron"),
                every=parse_duration(raw["every"]) if "every" in raw else None,
                timezone=str(raw.get("timezone", "UTC")),
                jitter=parse_duration(raw.get("jitter", 0)),
                misfire_grace=parse_duration(raw.get("misfire_grace", 300)),
                enabled=bool(raw.get("enabled", True)),
                misfire=str(raw.get("misfire", "run_once")),
            )
        except (ValueError, TypeError, AttributeError):
            return None  # reported by the structure check
        if not isinstance(spec.cron, (str, type(None))):
            return None
        self.check_schedule(spec)
        return spec

    def check_schedule(self, spec: ScheduleSpec) -> None:
        from task_runner.workflow.schedule_check import (
            MISFIRE_POLICIES,
            cron_error,
            timezone_error,
        )

        if spec.cron is not None and (problem := cron_error(spec.cron, spec.timezone)):
            self.error(SchemaValidationError, problem, ["schedule", "cron"])
        if problem := timezone_error(spec.timezone):
            self.error(SchemaValidationError, problem, ["schedule", "timezone"])
        if spec.every is not None and spec.every <= 0:
            self.error(SchemaValidationError, "every must be more than 0s", ["schedule", "every"])
        if spec.misfire not in MISFIRE_POLICIES:
            self.error(
                SchemaValidationError,
                f"misfire {spec.misfire!r} is not one of {', '.join(MISFIRE_POLICIES)}",
                ["schedule", "misfire"],
            )

    def build_window(self) -> WindowSpec:
        raw = self.data.get("window")
        if not isinstance(raw, Mapping):
            return WindowSpec()
        try:
            return WindowSpec(
                initial_lookback=parse_duration(raw.get("initial_lookback", 86400)),
                overlap=parse_duration(raw.get("overlap", 0)),
                max_span=parse_duration(raw["max_span"]) if "max_span" in raw else None,
                lag=parse_duration(raw.get("lag", WindowSpec.lag)),
            )
        except (ValueError, TypeError):
            return WindowSpec()

    def build_tasks(self, structurally_valid: bool) -> dict[str, TaskSpec]:
        raw = self.data.get("tasks") or {}
        defaults = self.data.get("defaults") or {}
        tasks: dict[str, TaskSpec] = {}
        if not isinstance(raw, Mapping):
            return tasks
        for name, task in raw.items():
            if not isinstance(task, Mapping):
                continue
            try:
                tasks[str(name)] = _task_spec(
                    str(name), task, defaults, self.loc(["tasks", name], key=True)
                )
            except ValueError as exc:  # what the schema cannot see: a bad regex, 0s total...
                if structurally_valid:  # otherwise the structure errors already say why
                    self.error(
                        SchemaValidationError,
                        f"invalid task settings: {shorten(str(exc))}",
                        ["tasks", name],
                    )
            except (TypeError, KeyError, AttributeError):
                if structurally_valid:
                    self.error(SchemaValidationError, "invalid task settings", ["tasks", name])
        return tasks

    # -- semantic checks -----------------------------------------------------------------

    def check_tasks(self, workflow: Workflow) -> None:
        for name, task in workflow.tasks.items():
            base = ["tasks", name]
            kinds = [k for k in ("operation", "request", "url") if task.data.get(k) is not None]
            if len(kinds) > 1:
                self.error(
                    SchemaValidationError,
                    "a task has one of `operation` (with `connection` and `params`), a raw "
                    f"`request` or a plain `url`, not {' and '.join(f'`{k}`' for k in kinds)}",
                    base,
                )
            elif not kinds:
                self.error(
                    SchemaValidationError,
                    "a task needs `operation` (see `task-runner apis search`), a raw `request` "
                    "or a plain `url`",
                    base,
                    key=True,
                )
            if not isinstance(task.connection, (str, type(None))) or not isinstance(
                task.operation, (str, type(None))
            ):
                continue  # the structure check has reported it
            if task.connection and task.connection not in workflow.connections:
                self.unknown(
                    "connection", task.connection, list(workflow.connections), [*base, "connection"]
                )
            if task.operation:
                self.check_operation(workflow, task, base)
            elif task.request is not None:
                self.check_raw_request(task, base)
            elif task.url is not None:
                self.check_url(task, base)
            local = ("item", "index") if task.for_each is not None else ()
            refs = self.check_templates(task.data, base, task=name, workflow=workflow, local=local)
            object.__setattr__(task, "references", frozenset(refs))
            object.__setattr__(task, "windowed", name in self.windowed)

    def check_operation(self, workflow: Workflow, task: TaskSpec, base: list[Any]) -> None:
        assert task.operation is not None
        try:
            operation = self.catalogue.get(task.operation)
        except UnresolvedReferenceError as exc:
            self.error(
                UnresolvedReferenceError,
                f"unknown operation {excerpt(task.operation)}",
                [*base, "operation"],
                hint=exc.hint or "see `task-runner apis search QUERY`",
            )
            return
        except TaskRunnerError as exc:  # known, but its definition file cannot be read
            self.error(
                LoadError,
                f"operation {excerpt(task.operation)}: {exc.format()}",
                [*base, "operation"],
            )
            return
        workflow.operations[operation.id] = operation
        if not task.connection:
            self.error(
                SchemaValidationError,
                f"task uses operation {operation.id!r} but names no `connection`",
                base,
                key=True,
                hint="add `connection: <name>` naming one of `connections:`",
            )
        params = task.params if isinstance(task.params, Mapping) else {}
        for err in check_literal_params(operation, params, [*base, "params"], self.loc):
            self.errors.append(err)

    def check_raw_request(self, task: TaskSpec, base: list[Any]) -> None:
        """A raw request's host comes from the file or the connection, never from a value."""
        from task_runner.workflow.request_builder import static_origin

        url = task.request.get("url") if isinstance(task.request, Mapping) else None
        if not isinstance(url, str) or not is_template(url):
            return
        if task.connection is None and static_origin(url) is None:
            self.error(
                TemplateError,
                f"a raw request without a connection must spell out its scheme and host literally (got {excerpt(url)})",
                [*base, "request", "url"],
                hint="write https://host/... before any {{ }}, or add a connection and a path",
            )
        elif task.connection is not None and not url.startswith("/") and static_origin(url) is None:
            self.error(
                TemplateError,
                f"with a connection, a raw request URL is a path starting with / (got {excerpt(url)})",
                [*base, "request", "url"],
            )

    def check_url(self, task: TaskSpec, base: list[Any]) -> None:
        """A plain ``url:`` whose host a value decides needs a connection: its origin
        rule (credentials only to its own origin, other hosts only from ``allowed_hosts``)
        is what decides where the request may go."""
        from task_runner.workflow.request_builder import static_origin

        url = task.url
        if not isinstance(url, str):
            return
        if task.connection is None and is_template(url) and static_origin(url) is None:
            self.error(
                TemplateError,
                f"a `url` built from a value needs a `connection` (its allowed_hosts decide "
                f"where it may go; got {excerpt(url)})",
                [*base, "url"],
                hint="add `connection: <name>` and list the file host in its allowed_hosts",
            )
        elif not is_template(url) and not url.startswith(("http://", "https://", "/")):
            self.error(
                TemplateError,
                f"`url` must be absolute (https://...) or a path starting with / (got {excerpt(url)})",
                [*base, "url"],
            )

    def unknown(self, kind: str, name: str, known: list[str], path: list[Any]) -> None:
        hint = did_you_mean(name, known) or (
            f"defined {kind}s: " + ", ".join(known) if known else f"no {kind}s are defined"
        )
        self.error(UnresolvedReferenceError, f"unknown {kind} {excerpt(name)}", path, hint=hint)

    def check_templates(
        self,
        value: Any,
        path: list[Any],
        *,
        task: str | None,
        workflow: Workflow | None = None,
        local: tuple[str, ...] = (),
    ) -> set[str]:
        """Compile every template under ``value``; check what it refers to; return task refs.

        ``local``: names a template may read besides the namespaces (``item`` and
        ``index`` in a ``for_each`` task; not in ``for_each`` itself)."""
        found: set[str] = set()
        if isinstance(value, Mapping):
            for k, v in value.items():
                names = () if k == "for_each" and len(path) == 2 else local
                found |= self.check_templates(
                    v, [*path, k], task=task, workflow=workflow, local=names
                )
        elif isinstance(value, list):
            for i, v in enumerate(value):
                found |= self.check_templates(
                    v, [*path, i], task=task, workflow=workflow, local=local
                )
        elif is_template(value):
            found |= self.check_template(
                str(value), path, task=task, workflow=workflow, local=local
            )
        return found

    def check_template(
        self,
        source: str,
        path: list[Any],
        *,
        task: str | None,
        workflow: Workflow | None,
        local: tuple[str, ...] = (),
    ) -> set[str]:
        try:
            self.templates.compile(source)
            refs, private = self.templates.analyse(source)
        except TemplateSyntaxError as exc:
            self.error(
                TemplateError, f"template syntax error: {exc.message} in {excerpt(source)}", path
            )
            return set()
        for attribute in private:
            self.error(
                TemplateError,
                f"refused by the template sandbox: {excerpt(attribute)} is a private attribute (in template {excerpt(source)})",
                path,
                hint="templates may read data, not Python internals",
            )
        found: set[str] = set()
        if task is not None and {("run", "window_start"), ("run", "window_end")} & refs:
            self.windowed.add(task)
        inputs = self.data.get("inputs")
        tasks = self.data.get("tasks")
        inputs = inputs if isinstance(inputs, Mapping) else {}
        tasks = tasks if isinstance(tasks, Mapping) else {}
        for namespace, name in refs:
            if namespace == "inputs" and name is not None and name not in inputs:
                self.error(
                    UnresolvedReferenceError,
                    f"inputs.{name} is not declared (in template {excerpt(source)})",
                    path,
                    hint=f"add `{name}: {{type: ...}}` under `inputs:`",
                )
            elif namespace == "tasks" and name is not None:
                if name not in tasks:
                    self.error(
                        UnresolvedReferenceError,
                        f"tasks.{name} is not a task of this workflow (in template {excerpt(source)})",
                        path,
                        hint=_suggest(name, list(tasks)),
                    )
                elif task is None:
                    self.error(
                        TemplateError,
                        f"connections cannot read task outputs (in template {excerpt(source)})",
                        path,
                    )
                elif name == task:
                    self.error(TemplateError, f"task {excerpt(task)} reads its own output", path)
                else:
                    found.add(name)
            elif namespace == "run" and name is not None and name not in RUN_VARIABLES:
                self.error(
                    UnresolvedReferenceError,
                    f"run.{name} is not a run variable (in template {excerpt(source)})",
                    path,
                    hint=_suggest(name, list(RUN_VARIABLES)),
                )
            elif name is None and namespace in local:
                continue
            elif name is None and namespace not in ("inputs", "env", "secrets", "tasks", "run"):
                self.error(
                    UnresolvedReferenceError,
                    f"{excerpt(namespace)} is undefined (in template {excerpt(source)})",
                    path,
                    hint="item and index are read in the templates of a task with for_each "
                    "(not in for_each itself)"
                    if namespace in ("item", "index")
                    else "templates read inputs.X, env.X, secrets.X, tasks.X.output and run.X",
                )
        return found

    def check_graph(self, workflow: Workflow) -> None:
        for name, task in workflow.tasks.items():
            for i, dep in enumerate(task.depends_on):
                if dep not in workflow.tasks:
                    where: list[Any] = ["tasks", name, "depends_on"]
                    if isinstance(task.data.get("depends_on"), list):
                        where.append(i)
                    self.unknown("task", dep, list(workflow.tasks), where)
                elif dep == name:
                    self.error(
                        SchemaValidationError,
                        f"task {excerpt(name)} depends on itself",
                        ["tasks", name, "depends_on"],
                    )
        graph = {
            n: [d for d in t.dependencies if d in workflow.tasks and d != n]
            for n, t in workflow.tasks.items()
        }
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as exc:
            cycle = list(exc.args[1])
            self.error(
                SchemaValidationError,
                "tasks depend on each other in a cycle: " + " -> ".join(cycle),
                ["tasks", cycle[0]],
                key=True,
                hint="remove one depends_on or task reference",
            )


def _suggest(name: str, known: list[str]) -> str:
    return did_you_mean(name, known) or ("known: " + ", ".join(known) if known else "")


def _task_spec(
    name: str, task: Mapping[str, Any], defaults: Mapping[str, Any], location: SourceLocation
) -> TaskSpec:
    depends = task.get("depends_on") or ()
    if isinstance(depends, str):
        depends = (depends,)
    output = task.get("output") or {}
    sinks = {str(k): v for k, v in output.items() if k not in ("jsonl", "files")}
    return TaskSpec(
        name=name,
        location=location,
        data=task,
        operation=task.get("operation"),
        connection=task.get("connection"),
        params=task.get("params") or {},
        request=task.get("request"),
        pagination=parse_paginate(task.get("paginate")),
        retry=parse_retry(task.get("retry", defaults.get("retry"))),
        timeout=parse_timeout(task.get("timeout", defaults.get("timeout"))),
        expect=parse_expect(task.get("expect", defaults.get("expect"))),
        output_jsonl=output.get("jsonl"),
        depends_on=tuple(str(d) for d in depends),
        description=str(task.get("description", "")),
        when=task.get("when"),
        for_each=parse_for_each(task.get("for_each")),
        url=task.get("url"),
        files=parse_files(output.get("files")),
        sinks=sinks,
    )


def parse_for_each(raw: Any) -> ForEachSpec | None:
    """``for_each: "{{ ... }}"`` or ``{items, concurrency, on_failure, max_failures, key}``."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return ForEachSpec(items=raw)
    policy = str(raw.get("on_failure", "fail_fast"))
    if policy not in FAILURE_POLICIES:
        raise ValueError(f"for_each.on_failure must be one of {', '.join(FAILURE_POLICIES)}")
    most = raw.get("max_failures")
    concurrency = raw.get("concurrency")
    return ForEachSpec(
        items=str(raw["items"]),
        concurrency=int(concurrency) if concurrency is not None else None,
        on_failure="continue" if most is not None else policy,
        max_failures=int(most) if most is not None else None,
        key=str(raw.get("key", "id")),
    )


def parse_files(raw: Any) -> FilesSpec | None:
    """``output.files`` as a :class:`FilesSpec` (None when the task writes no files)."""
    if raw is None:
        return None
    from task_runner.sinks.files import files_settings

    return FilesSpec(**files_settings(raw))


def parse_paginate(raw: Any) -> Pagination:
    if raw in (None, False):
        return Pagination()
    if raw == "all":
        return Pagination(mode="all", adaptive=True)
    if isinstance(raw, int):
        return Pagination(mode="pages", max_pages=raw, adaptive=True)
    pages = raw.get("pages", "all")
    common: dict[str, Any] = {
        "max_concurrency": int(raw.get("max_concurrency", 4)),
        "adaptive": "max_concurrency" not in raw,  # issue 15: concurrency follows the API
        "key": raw.get("key", "id"),
        "version": raw.get("version", "updated_at"),
        "on_mismatch": raw.get("on_mismatch", "warn"),
    }
    if pages == "all":
        return Pagination(mode="all", **common)
    return Pagination(mode="pages", max_pages=int(pages), **common)


def parse_retry(raw: Mapping[str, Any] | None) -> RetryPolicy:
    if not raw:
        return RetryPolicy()
    base = RetryPolicy()
    return RetryPolicy(
        max_attempts=int(raw.get("max_attempts", base.max_attempts)),
        initial_interval=parse_duration(raw.get("initial_interval", base.initial_interval)),
        backoff_rate=float(raw.get("backoff_rate", base.backoff_rate)),
        max_interval=parse_duration(raw.get("max_interval", base.max_interval)),
        jitter=bool(raw.get("jitter", base.jitter)),
        retry_on_status=frozenset(raw.get("retry_on", base.retry_on_status)),
        retry_non_idempotent=bool(raw.get("retry_non_idempotent", False)),
        max_wait=parse_duration(raw.get("max_wait", base.max_wait)),
    )


def parse_timeout(raw: Any) -> Timeout:
    """``timeout: 30s`` (read, connect at most 10s) or ``{connect, read, total}``.

    ``total`` bounds a whole attempt (connect + headers + body); left out, it is
    :attr:`Timeout.DEFAULT_TOTAL` (300s), or ``connect + read`` when that is longer.
    """
    if raw is None:
        return Timeout()
    if not isinstance(raw, Mapping):
        seconds = parse_duration(raw)
        return Timeout(connect=min(seconds, Timeout().connect), read=seconds)
    base = Timeout()
    total = raw.get("total")
    timeout = Timeout(
        connect=parse_duration(raw.get("connect", base.connect)),
        read=parse_duration(raw.get("read", base.read)),
        total=parse_duration(total) if total is not None else None,
    )
    for name in ("connect", "read", "total"):
        if getattr(timeout, name) is not None and getattr(timeout, name) <= 0:
            raise ValueError(f"timeout.{name} must be more than 0s (every attempt would time out)")
    return timeout


def parse_expect(raw: Mapping[str, Any] | None) -> Expect:
    """``expect:`` as an :class:`Expect`; ``ValueError`` for a check that cannot run (a
    regex or JMESPath query that does not parse), see :mod:`task_runner.runner.checks`."""
    from task_runner.runner.checks import validate_expect

    if not raw:
        return Expect()
    status = raw.get("status")
    items = raw.get("items") or {}
    schema = raw.get("schema")
    expect = Expect(
        status=frozenset(int(s) for s in status) if status else None,
        max_body_bytes=int(raw.get("max_body_bytes", Expect().max_body_bytes)),
        checks=tuple(raw.get("checks") or ()),
        headers={str(k): dict(v) for k, v in (raw.get("headers") or {}).items()},
        schema=json.loads(json.dumps(schema)) if isinstance(schema, Mapping) else schema,
        items_min=int(items["min"]) if "min" in items else None,
        items_max=int(items["max"]) if "max" in items else None,
    )
    validate_expect(expect)
    return expect
