"""One job: add an HTTP task for a catalogue operation to a workflow file, keeping the file.

The file is edited with a round-trip YAML library, so the user's comments, key order
and quoting survive. What is added:

- the ``# yaml-language-server: $schema=...`` line (editor completion), when missing;
- a connection for the operation's API, when the workflow has none: its host from
  ``env.<API>_BASE_URL`` (the profile's host as the default) and an ``auth`` block of the
  kind the API takes (``api_key``, ``http_basic``, ``bearer``, OAuth; see
  :data:`AUTH_BLOCKS`) whose credentials are ``{{ secrets.<API>_... }}`` placeholders;
- one input per required parameter (``Procore-Company-Id`` -> ``company_id``), typed
  from the parameter's schema, unless an input of that name exists;
- the task: every required parameter as a placeholder wired to its input, every
  optional one as a comment with its type and description, ready to uncomment.

Example::

    result = add_task(Path("photos.yaml"), catalogue.get("procore.images.list"))
    result.task, result.new_inputs        # "list_images", ["company_id", "project_id"]
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import LoadError, UsageError

if TYPE_CHECKING:
    from ruamel.yaml import YAML

    from task_runner.catalogue.catalogue import OperationDefinition, ParameterDef
    from task_runner.catalogue.profile import ApiProfile

__all__ = [
    "AUTH_BLOCKS",
    "EMULATED_API",
    "AddTaskResult",
    "add_task",
    "auth_kind",
    "connection_block",
    "connection_secrets",
    "input_name",
    "schema_line_path",
    "task_name",
]

SCHEMA_MARK = "yaml-language-server:"
DESCRIPTION_CHARS = 100
#: The end of a description's first sentence ("e.g. `OPS`" does not end one).
_SENTENCE_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<=\.)\s")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-\[\].]*$")


@dataclass
class AddTaskResult:
    """What :func:`add_task` changed in the file."""

    path: Path
    task: str
    operation: str
    connection: str
    created_file: bool = False
    created_connection: bool = False
    new_inputs: dict[str, str] = field(default_factory=dict)  # name -> type
    placeholders: dict[str, str] = field(default_factory=dict)  # param -> input
    secrets: list[str] = field(default_factory=list)  # what a created connection reads
    emulated: bool = False  # --emulator serves the operation's API

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "task": self.task,
            "operation": self.operation,
            "connection": self.connection,
            "created_file": self.created_file,
            "created_connection": self.created_connection,
            "new_inputs": self.new_inputs,
            "placeholders": self.placeholders,
            "secrets": self.secrets,
            "emulated": self.emulated,
        }


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "value"


def input_name(param: ParameterDef, api: str) -> str:
    """``Procore-Company-Id`` -> ``company_id``; ``filters[log_date]`` -> ``filters_log_date``."""
    name = param.name
    prefix = f"{api}-"
    if param.location == "header" and name.lower().startswith(prefix.lower()):
        name = name[len(prefix) :]
    return _snake(name)


def task_name(operation_id: str) -> str:
    """``procore.images.list`` -> ``list_images``: the verb, then what it acts on."""
    parts = [p for p in operation_id.split(".") if p]
    if len(parts) >= 3:
        return _snake(f"{parts[-1]}_{parts[-2]}")
    return _snake(parts[-1] if parts else "task")


def schema_line_path(workflow_file: Path) -> str:
    """The workflow JSON Schema, relative to the workflow's folder (for the editor line)."""
    from task_runner.catalogue.catalogue import repo_root

    schema = repo_root() / "schemas" / "workflow.schema.json"
    base = workflow_file.resolve().parent
    try:
        return Path(os.path.relpath(schema, base)).as_posix()
    except ValueError:  # another drive on Windows
        return schema.as_posix()


def _env_prefix(api: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", api.upper()).strip("_")


#: The API whose connections ``--emulator`` points at the built-in emulator
#: (:mod:`task_runner.runner.emulated`); add-task suggests ``--emulator`` only for it.
EMULATED_API = "procore"

#: The ``auth`` block add-task writes for each auth kind: setting -> value, where
#: ``secret:NAME`` is ``{{ secrets.<API>_NAME }}`` and ``token_url`` the token URL from env
#: (with the profile's default). The first kind of the profile's ``auth.kinds`` found here
#: is used; an API whose profile names none gets ``bearer``.
AUTH_BLOCKS: dict[str, dict[str, str]] = {
    "oauth2_client_credentials": {
        "token_url": "token_url",
        "client_id": "secret:CLIENT_ID",
        "client_secret": "secret:CLIENT_SECRET",
    },
    "oauth2_refresh_token": {
        "token_url": "token_url",
        "client_id": "secret:CLIENT_ID",
        "client_secret": "secret:CLIENT_SECRET",
        "refresh_token": "secret:REFRESH_TOKEN",
    },
    "api_key": {"key": "secret:API_KEY"},
    "http_basic": {"username": "secret:USERNAME", "password": "secret:PASSWORD"},
    "bearer": {"token": "secret:TOKEN"},
    "none": {},
}


def auth_kind(profile: ApiProfile | None) -> str:
    """The auth kind add-task scaffolds: the first of the profile's ``auth.kinds`` that
    :data:`AUTH_BLOCKS` knows (Procore lists ``oauth2_client_credentials`` first, a
    generated profile its security schemes in document order), else ``bearer``."""
    kinds = profile.auth_kinds if profile else ()
    return next((k for k in kinds if k in AUTH_BLOCKS), "bearer")


def connection_secrets(api: str, profile: ApiProfile | None) -> list[str]:
    """The secrets the connection :func:`connection_block` writes reads, e.g.
    ``["TICKETS_API_KEY"]``."""
    prefix = _env_prefix(api)
    block = AUTH_BLOCKS[auth_kind(profile)]
    return [f"{prefix}_{v.split(':', 1)[1]}" for v in block.values() if v.startswith("secret:")]


def connection_block(api: str, profile: ApiProfile | None) -> str:
    """YAML for a connection to ``api``: hosts from env (with the profile's defaults),
    credentials from secrets named after the API, in the auth kind the API takes
    (:func:`auth_kind`); for Procore, the same block the examples use."""
    prefix = _env_prefix(api)
    base_default = _profile_value(profile, "base_url")
    base = f"env.{prefix}_BASE_URL" + (f" | default('{base_default}')" if base_default else "")
    lines = [f"api: {api}", f'base_url: "{{{{ {base} }}}}"']
    kind = auth_kind(profile)
    lines += ["auth:", f"  type: {kind}"]
    for setting, value in AUTH_BLOCKS[kind].items():
        if value == "token_url":
            token_default = _profile_value(profile, "token_url")
            token = f"env.{prefix}_TOKEN_URL" + (
                f" | default('{token_default}')" if token_default else ""
            )
            lines.append(f'  {setting}: "{{{{ {token} }}}}"')
        else:
            secret = f"{prefix}_{value.split(':', 1)[1]}"
            lines.append(f'  {setting}: "{{{{ secrets.{secret} }}}}"{_where(kind, profile)}')
    return "\n".join(lines)


def _where(kind: str, profile: ApiProfile | None) -> str:
    """For an API key, a comment saying where the profile's scheme sends it (the
    runtime's default for ``in`` and ``name``)."""
    if kind != "api_key" or profile is None:
        return ""
    scheme = next((s for s in profile.auth_schemes.values() if s.get("kind") == kind), None)
    if not scheme or not scheme.get("name"):
        return ""
    where = "query parameter" if scheme.get("in") == "query" else "header"
    return f"   # sent as {where} {scheme['name']} (the API profile's default)"


def _profile_value(profile: ApiProfile | None, what: str) -> str | None:
    if profile is None:
        return None
    try:
        return str(profile.base_url() if what == "base_url" else profile.token_url())
    except Exception:  # a profile without that environment or OAuth host: no default
        return None


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind)


def _input_spec(param: ParameterDef) -> dict[str, Any]:
    kind = _type_of(param.schema)
    spec: dict[str, Any] = {"type": kind}
    if kind == "array" and isinstance(param.schema.get("items"), dict):
        spec["items"] = {"type": _type_of(param.schema["items"])}
    if param.schema.get("enum"):
        spec["enum"] = list(param.schema["enum"])
    description = _short(param.description)
    spec["description"] = f"{description} ({param.name})" if description else param.name
    return spec


def _short(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    text = " ".join(text.split())
    text = re.sub(r"^(optional|required)\.\s*", "", text, flags=re.IGNORECASE)
    first = _SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".")
    if len(first) > limit:
        first = first[: limit - 3].rstrip() + "..."
    return first


def _key(name: str) -> str:
    return name if _PLAIN_KEY.match(name) else json.dumps(name)


def _describe(param: ParameterDef) -> str:
    parts = [_type_of(param.schema)]
    if param.schema.get("format"):
        parts[0] += f" ({param.schema['format']})"
    if param.schema.get("enum"):
        parts.append("one of " + "|".join(str(v) for v in param.schema["enum"]))
    if "default" in param.schema:
        parts.append(f"default {json.dumps(param.schema['default'])}")
    parts.append(f"in {param.location}")
    text = ", ".join(parts)
    description = _short(param.description)
    return f"{text}: {description}" if description else text


def _task_yaml(
    name: str,
    operation: OperationDefinition,
    connection: str,
    placeholders: dict[str, str],
) -> str:
    lines = [
        "tasks:",
        f"  {name}:",
        f"    operation: {operation.id}   # {operation.method} {operation.path}",
        f"    connection: {connection}",
    ]
    required = [p for p in operation.parameters if p.required]
    optional = [p for p in operation.parameters if not p.required]
    lines.append("    params:" if required else "    params: {}")
    for param in required:
        value = f'"{{{{ inputs.{placeholders[param.name]} }}}}"'
        lines.append(f"      {_key(param.name)}: {value}   # {_describe(param)}")
    if optional:
        lines.append("      # optional parameters: uncomment and fill in what you need")
        for param in optional:
            lines.append(f"      # {_key(param.name)}:   # {_describe(param)}")
    if _lists(operation):
        lines.append("    # paginate: all   # every page; without it a run reads only the first")
    return "\n".join(lines) + "\n"


def _lists(operation: OperationDefinition) -> bool:
    """A GET that answers a list (``x-items``, from an OpenAPI document) or takes a page
    parameter: a task for it usually wants every page."""
    names = {p.name for p in operation.parameters}
    return operation.method == "GET" and (
        isinstance(operation.raw.get("x-items"), str) or bool(names & {"page", "per_page"})
    )


def _load(path: Path) -> tuple[Any, bool]:
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    if not path.exists():
        return CommentedMap(), True
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = _yaml().load(text) if text.strip() else None
    except YAMLError as exc:
        raise LoadError(f"{path} is not valid YAML, so nothing was added: {exc}") from exc
    if data is None:
        return CommentedMap(), True
    if not isinstance(data, CommentedMap):
        raise LoadError(f"{path} does not hold a workflow (a mapping at the top level)")
    _refuse_foreign(path, data)
    return data, False


def _refuse_foreign(path: Path, doc: Any) -> None:
    """Refuse a YAML file that is not a task-runner workflow: one whose top-level keys
    are not all keys of ``schemas/workflow.schema.json`` (a GitHub Actions file with
    ``on:``/``jobs:``, a compose file). Raises :class:`InputErrors`, one
    :class:`LoadError` per foreign key at its ``file:line:col``, nothing written."""
    from task_runner.errors import InputErrors, SourceLocation
    from task_runner.workflow.loader import workflow_validator

    allowed = set(workflow_validator().schema.get("properties", {}))
    errors = []
    for key in doc:
        if str(key) in allowed:
            continue
        line, col = doc.lc.key(key)
        errors.append(
            LoadError(
                f"{path} is not a task-runner workflow (top-level key {str(key)!r}); "
                "nothing was added",
                location=SourceLocation(str(path), line + 1, col + 1),
                hint="add the task to a workflow file, or give a new file name",
            )
        )
    if errors:
        raise InputErrors(errors)


def _section(doc: Any, key: str, before: tuple[str, ...]) -> Any:
    """``doc[key]`` as a block mapping, created (before the first of ``before``) if missing."""
    from ruamel.yaml.comments import CommentedMap

    value = doc.get(key)
    if isinstance(value, CommentedMap):
        if not value:
            value.fa.set_block_style()  # `inputs: {}` becomes a block when it gets keys
        return value
    if value is not None and not isinstance(value, dict):
        raise LoadError(f"{key}: must be a mapping to add to it")
    section = CommentedMap(value or {})
    position = next((list(doc).index(k) for k in before if k in doc), len(doc))
    if key in doc:
        doc[key] = section
    else:
        doc.insert(position, key, section)
    return section


def _choose_connection(doc: Any, api: str, wanted: str | None) -> tuple[str, bool]:
    """An existing connection (by name, or the first for ``api``) or a name to create."""
    connections = doc.get("connections") or {}
    if wanted:
        return wanted, wanted not in connections
    for name, spec in connections.items():
        if isinstance(spec, dict) and spec.get("api") == api:
            return str(name), False
    name = _snake(api)
    suffix = 2
    while name in connections:  # a connection of that name for another API
        name, suffix = f"{_snake(api)}_{suffix}", suffix + 1
    return name, True


def add_task(
    path: Path,
    operation: OperationDefinition,
    *,
    name: str | None = None,
    connection: str | None = None,
    profile: ApiProfile | None = None,
) -> AddTaskResult:
    """Add a task for ``operation`` to the workflow at ``path`` (created if missing).

    Raises :class:`InputErrors` when ``path`` holds YAML that is not a task-runner
    workflow (see :func:`_refuse_foreign`), UsageError for a task name that is taken or
    unusable, LoadError for a file that does not parse; nothing is written then."""
    from task_runner.recording.store import atomic_write_text

    doc, created = _load(path)
    task = name or task_name(operation.id)
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_\-]*$", task):
        raise UsageError(
            f"task name {task!r} is not usable", hint="letters, digits, _ and -; e.g. list_images"
        )
    tasks_now = doc.get("tasks") or {}
    if task in tasks_now:
        raise UsageError(
            f"{path} already has a task {task!r}; nothing was changed",
            hint="choose another name with --name",
        )
    if created:
        doc["name"] = _snake(path.stem).replace("_", "-")
    conn_name, create_conn = _choose_connection(doc, operation.api, connection)
    result = AddTaskResult(
        path,
        task,
        operation.id,
        conn_name,
        created_file=created,
        emulated=operation.api == EMULATED_API,
    )

    inputs = _section(doc, "inputs", ("connections", "tasks"))
    for param in operation.parameters:
        if not param.required:
            continue
        key = input_name(param, operation.api)
        result.placeholders[param.name] = key
        if key not in inputs:
            spec = _flow(_input_spec(param))
            inputs[key] = spec
            result.new_inputs[key] = spec["type"]

    if create_conn:
        connections = _section(doc, "connections", ("tasks",))
        block = _yaml().load(f"{conn_name}:\n" + _indent(connection_block(operation.api, profile)))
        connections[conn_name] = block[conn_name]
        result.created_connection = True
        result.secrets = connection_secrets(operation.api, profile)

    tasks = _section(doc, "tasks", ())
    snippet = _yaml().load(_task_yaml(task, operation, conn_name, result.placeholders))
    tasks[task] = snippet["tasks"][task]

    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    text = buffer.getvalue()
    if SCHEMA_MARK not in text.split("\n", 1)[0]:
        text = f"# {SCHEMA_MARK} $schema={schema_line_path(path)}\n" + text
    atomic_write_text(path, text)
    return result


def _indent(text: str, by: str = "  ") -> str:
    return "".join(by + line + "\n" for line in text.splitlines())


def _flow(spec: dict[str, Any]) -> Any:
    """An input spec written on one line, like ``{type: integer, description: ...}``."""
    from ruamel.yaml.comments import CommentedMap

    mapping = CommentedMap()
    for key, value in spec.items():
        if isinstance(value, dict):
            value = _flow(value)
        mapping[key] = value
    mapping.fa.set_flow_style()
    return mapping
