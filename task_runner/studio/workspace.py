"""The studio's files: the workflow files under one folder, and nothing outside it.

Every path the browser names is relative to :attr:`Workspace.root`; :meth:`Workspace.file`
refuses absolute paths, ``..``, symbolic links that lead out, hidden files and folders
(any part starting with ``.``: ``.git/hooks``, ``.github/workflows``), and anything but
``*.yaml``/``*.yml`` (:class:`~task_runner.errors.UsageError`). Folders are never
created: a new file goes into a folder that exists. A file that holds something other
than a task-runner workflow (a GitHub Actions file) is refused by ``add-task``'s loader. Files are written with a
temporary file and ``os.replace``, and only when they still hold what the browser last
saw (their SHA-256): a file changed on disk meanwhile is a :class:`Conflict`, never
overwritten.

A *draft* is the workflow file with one task added exactly as ``add-task`` adds it
(:func:`task_runner.scaffold.add_task`, the round-trip writer that keeps comments and
layout) and then given the parameter values of the studio's form. Drafts are built and
validated in a private temporary folder, so that nothing under the root changes until
the user saves.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import InputError, InputErrors, TaskRunnerError, UsageError

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.workflow.model import Workflow

__all__ = ["Conflict", "Draft", "Workspace", "sha256_text", "template_names"]

WORKFLOW_SUFFIXES = (".yaml", ".yml")
#: Folders never listed: tool state, recordings, virtual environments, VCS data.
SKIPPED_DIRS = frozenset(
    {".git", ".task-runner", "recordings", "node_modules", ".venv", "venv", "__pycache__", "out"}
)
_SECRET_NAMES = re.compile(r"\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)")
_ENV_NAMES = re.compile(r"\benv\.([A-Za-z_][A-Za-z0-9_]*)")


def sha256_text(text: str | None) -> str | None:
    """The hex SHA-256 of ``text`` as UTF-8 (None for a file that does not exist)."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_names(text: str) -> dict[str, list[str]]:
    """The ``secrets.NAME`` and ``env.NAME`` names a workflow text refers to, sorted."""
    return {
        "secrets": sorted(set(_SECRET_NAMES.findall(text))),
        "env": sorted(set(_ENV_NAMES.findall(text))),
    }


class Conflict(TaskRunnerError):
    """The file changed on disk since the browser read it; nothing was written.

    ``current`` is the file's text now (None: it was removed), ``sha256`` its digest."""

    exit_code = 2

    def __init__(self, path: str, current: str | None) -> None:
        super().__init__(
            f"{path} changed on disk since it was opened; nothing was written",
            hint="review the new version, then apply your change to it",
        )
        self.current = current
        self.sha256 = sha256_text(current)


@dataclass
class Draft:
    """A workflow text with one task added, and what validating it found."""

    path: str  # relative to the root
    text: str
    task: str
    base_sha256: str | None  # the file the draft was built on (None: a new file)
    new_inputs: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "text": self.text,
            "task": self.task,
            "base_sha256": self.base_sha256,
            "new_inputs": self.new_inputs,
            "errors": self.errors,
        }


class Workspace:
    """The workflow files under ``root`` (a folder), read and written safely."""

    def __init__(self, root: str | Path, catalogue: Catalogue) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise UsageError(f"{root} is not a folder", hint="give the folder of your workflows")
        self.catalogue = catalogue

    # -- paths --------------------------------------------------------------------------

    def file(self, rel: str, *, must_exist: bool = False) -> Path:
        """The workflow file ``rel`` under the root; UsageError for anything else."""
        if not isinstance(rel, str) or not rel or "\x00" in rel:
            raise UsageError("a workflow path is required")
        candidate = Path(rel)
        if candidate.is_absolute() or ".." in candidate.parts or rel.startswith("~"):
            raise UsageError(f"{rel!r} is outside the studio's folder", hint="use a relative path")
        if any(part.startswith(".") for part in candidate.parts):
            raise UsageError(
                f"{rel!r} is in a hidden folder or is a hidden file; the studio leaves those alone",
                hint="use a path with no part starting with '.'",
            )
        if candidate.suffix not in WORKFLOW_SUFFIXES:
            raise UsageError(f"{rel!r} is not a workflow file", hint="name it *.yaml or *.yml")
        path = (self.root / candidate).resolve()
        if not path.is_relative_to(self.root):
            raise UsageError(f"{rel!r} leads outside the studio's folder")
        if must_exist and not path.is_file():
            raise UsageError(f"no workflow file {rel!r}")
        return path

    def folder_exists(self, rel: str, path: Path) -> None:
        """Raise UsageError unless the folder ``rel`` (at ``path``) goes into exists: the
        studio writes files, never folders."""
        if not path.parent.is_dir():
            folder = Path(rel).parent.as_posix()
            raise UsageError(
                f"the folder {folder!r} does not exist; the studio does not create folders",
                hint="create it first, or save to a folder that exists",
            )

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def workflow_files(self) -> list[Path]:
        """``*.yaml``/``*.yml`` under the root, skipping tool folders; sorted."""
        found: list[Path] = []
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(folder, name)
                if path.suffix in WORKFLOW_SUFFIXES and path.resolve().is_relative_to(self.root):
                    found.append(path)
        return found

    def read(self, rel: str) -> str | None:
        """The text of ``rel`` (None when it does not exist)."""
        path = self.file(rel)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {rel}: {exc}") from exc

    # -- validation ---------------------------------------------------------------------

    def check(
        self, rel: str, text: str, inputs: Mapping[str, Any] | None = None
    ) -> tuple[Workflow | None, list[dict[str, Any]]]:
        """Load ``text`` as the workflow ``rel`` would be, with ``validate``'s checks;
        the workflow (None when it does not load) and every error as JSON, its file
        being ``rel``."""
        from task_runner.contract import errors_json
        from task_runner.workflow.loader import load_workflow
        from task_runner.workflow.validate import render_check

        with self._staged(rel, text) as staged:
            errors: list[InputError] = []
            workflow = None
            try:
                workflow = load_workflow(staged, catalogue=self.catalogue)
            except InputErrors as exc:
                errors.extend(exc.errors)
            except InputError as exc:
                errors.append(exc)
            if workflow is not None:
                errors.extend(render_check(workflow, inputs or {}))
            errors.sort(key=lambda e: e.sort_key())
            found = errors_json(errors)
        for error in found:
            if error.get("file") and Path(error["file"]).name == Path(rel).name:
                error["file"] = rel
        return workflow, found

    @contextmanager
    def _staged(self, rel: str, text: str) -> Iterator[Path]:
        """``text`` in a private temporary file named like ``rel``."""
        with tempfile.TemporaryDirectory(prefix="task-runner-studio-") as folder:
            staged = Path(folder) / Path(rel).name
            staged.write_text(text, encoding="utf-8")
            yield staged

    @contextmanager
    def staged_workflow(self, rel: str, text: str) -> Iterator[Workflow]:
        """The workflow ``text`` loaded from a private copy (raises its input errors)."""
        from task_runner.workflow.loader import load_workflow

        with self._staged(rel, text) as staged:
            yield load_workflow(staged, catalogue=self.catalogue)

    # -- drafts -------------------------------------------------------------------------

    def draft(
        self,
        rel: str,
        operation_id: str,
        *,
        task: str | None = None,
        connection: str | None = None,
        params: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> Draft:
        """The file ``rel`` (created when missing) with a task for ``operation_id`` added
        as ``add-task`` adds it, its params set to ``params`` (a value None or "" leaves
        the parameter as ``add-task`` wrote it), validated with ``inputs``."""
        from task_runner.scaffold import add_task, schema_line_path, task_name

        path = self.file(rel)
        current = self.read(rel)
        if current is None:
            self.folder_exists(rel, path)
        operation = self.catalogue.get(operation_id)
        taken = existing_tasks(current)
        if task and task in taken:
            raise UsageError(
                f"{rel} already has a task {task!r}", hint="choose another name for the task"
            )
        if not task:
            base = task_name(operation.id)
            task, number = base, 2
            while task in taken:
                task, number = f"{base}_{number}", number + 1
        with tempfile.TemporaryDirectory(prefix="task-runner-studio-") as folder:
            staged = Path(folder) / path.name
            if current is not None:
                staged.write_text(current, encoding="utf-8")
            try:
                result = add_task(
                    staged,
                    operation,
                    name=task or None,
                    connection=connection or None,
                    profile=self.catalogue.profile(operation.api) if operation.api else None,
                )
            except InputErrors as exc:  # name the user's file, not the private copy
                for error in exc.errors:
                    _rename(error, str(staged), rel)
                raise
            except TaskRunnerError as exc:
                _rename(exc, str(staged), rel)
                raise
            text = staged.read_text(encoding="utf-8")
        if current is None or "$schema=" not in current.split("\n", 1)[0]:
            first, _, rest = text.partition("\n")
            if "$schema=" in first:
                text = re.sub(r"\$schema=\S+", f"$schema={schema_line_path(path)}", first, count=1)
                text = f"{text}\n{rest}"
        values = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        text = set_params(text, result.task, values)
        unused = [
            name
            for name in result.new_inputs
            if not re.search(r"\binputs\." + re.escape(name) + r"\b", _tasks_part(text))
        ]
        if unused:
            text = _drop_inputs(text, unused)
        draft = Draft(
            rel,
            text,
            result.task,
            sha256_text(current),
            {k: v for k, v in result.new_inputs.items() if k not in unused},
        )
        _, draft.errors = self.check(rel, text, inputs)
        return draft

    def edit(
        self,
        rel: str,
        task: str,
        *,
        params: Mapping[str, Any],
        connection: str | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> Draft:
        """The file ``rel`` with its existing ``task``'s params made exactly ``params``
        (and its connection set, when given) by :func:`~task_runner.studio.edit.update_task`
        -- only the changed entries' lines are touched -- validated with ``inputs``.
        Raises UsageError when the file or the task does not exist."""
        from task_runner.studio.edit import update_task

        current = self.read(rel)
        if current is None:
            raise UsageError(f"no workflow file {rel!r}", hint="it was removed; reload the page")
        if not isinstance(params, Mapping):
            raise UsageError("params must be a JSON object")
        text = update_task(current, task, params, connection or None)
        draft = Draft(rel, text, task, sha256_text(current))
        _, draft.errors = self.check(rel, text, inputs)
        return draft

    # -- writing ------------------------------------------------------------------------

    def save(self, rel: str, text: str, base_sha256: str | None) -> str:
        """Write ``text`` to ``rel`` if it still holds what ``base_sha256`` says (None: the
        file must not exist); return the new digest. Raises :class:`Conflict`."""
        from task_runner.recording.store import atomic_write_text

        path = self.file(rel)
        current = self.read(rel)
        if sha256_text(current) != base_sha256:
            raise Conflict(rel, current)
        self.folder_exists(rel, path)
        if not path.resolve().is_relative_to(self.root):
            raise UsageError(f"{rel!r} leads outside the studio's folder")
        atomic_write_text(path, text)
        return sha256_text(text) or ""


def _rename(exc: TaskRunnerError, staged: str, rel: str) -> None:
    """``exc`` naming the user's file ``rel`` instead of the private copy ``staged``."""
    import dataclasses

    exc.message = exc.message.replace(staged, rel)
    exc.args = (exc.message,)
    if exc.location is not None and exc.location.file == staged:
        exc.location = dataclasses.replace(exc.location, file=rel)


def existing_tasks(text: str | None) -> set[str]:
    """The task names of a workflow text (empty when it has none or does not parse)."""
    import yaml

    if not text:
        return set()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return set()
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return {str(k) for k in tasks} if isinstance(tasks, dict) else set()


# -- text edits that keep the round-trip writer's layout ---------------------------------


def _yaml_value(value: Any) -> str:
    """``value`` as a one-line YAML flow value (JSON is YAML 1.2 flow)."""
    from task_runner.studio.edit import json_flow

    return json_flow(value)


def _task_block(lines: list[str], task: str) -> tuple[int, int] | None:
    """The line range of ``tasks: <task>:``'s block (its body lines)."""
    in_tasks = False
    start = None
    for number, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            if start is not None:
                return start, number
            in_tasks = line.rstrip().startswith("tasks:")
            continue
        if in_tasks and indent == 2:
            if start is not None:
                return start, number
            key = line.strip().split(":", 1)[0].strip("'\"")
            if key == task:
                start = number + 1
    return (start, len(lines)) if start is not None else None


def set_params(text: str, task: str, values: Mapping[str, Any]) -> str:
    """Set ``task``'s params in a workflow text written by ``add-task``: a parameter's
    line (or its commented-out line, for an optional one) becomes ``key: value`` with its
    description comment kept; one with no such line is added under ``params:``."""
    if not values:
        return text
    lines = text.split("\n")
    block = _task_block(lines, task)
    if block is None:
        raise UsageError(f"task {task!r} not found in the draft")
    start, end = block
    remaining = dict(values)
    params_line = None
    for number in range(start, end):
        line = lines[number]
        stripped = line.strip()
        if stripped.startswith("params:"):
            params_line = number
            continue
        body = stripped[2:] if stripped.startswith("# ") else stripped
        for key in list(remaining):
            for written in (key, _quoted_key(key)):
                if body.startswith(f"{written}:"):
                    indent = line[: len(line) - len(line.lstrip())]
                    rest = body[len(written) + 1 :]
                    comment = ""
                    if "   # " in rest:
                        comment = "   # " + rest.split("   # ", 1)[1]
                    lines[number] = f"{indent}{written}: {_yaml_value(remaining.pop(key))}{comment}"
                    break
            else:
                continue
            break
    if remaining:
        if params_line is None:
            raise UsageError(f"task {task!r} has no params block in the draft")
        indent = " " * (len(lines[params_line]) - len(lines[params_line].lstrip()) + 2)
        if lines[params_line].strip().startswith("params: {}"):
            lines[params_line] = lines[params_line].replace("params: {}", "params:", 1)
        added = [f"{indent}{_quoted_key(k)}: {_yaml_value(v)}" for k, v in remaining.items()]
        lines[params_line + 1 : params_line + 1] = added
    return "\n".join(lines)


def _quoted_key(key: str) -> str:
    from task_runner.scaffold import _key

    return _key(key)


def _tasks_part(text: str) -> str:
    """The text from ``tasks:`` and ``connections:`` on: where inputs are read."""
    at = min(
        (i for i in (text.find("\ntasks:"), text.find("\nconnections:")) if i >= 0),
        default=0,
    )
    return text[at:]


def _drop_inputs(text: str, names: list[str]) -> str:
    """``text`` without the (new, now unused) inputs ``names``, via the round-trip writer."""
    import io

    from task_runner.scaffold import _yaml

    yaml = _yaml()
    doc = yaml.load(text)
    inputs = doc.get("inputs")
    if inputs is None:
        return text
    for name in names:
        inputs.pop(name, None)
    if not inputs:
        del doc["inputs"]
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return buffer.getvalue()
