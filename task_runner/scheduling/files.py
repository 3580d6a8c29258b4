"""The workflow files a scheduler watches: which files (:func:`discover`), whether one
changed (:func:`signature`), loading one to schedule it (:func:`load_for_schedule`),
and what was loaded from each (:class:`WatchedFile`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from task_runner.errors import InputError, InputErrors
from task_runner.redact import REDACTOR

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.model import ConnectionConfig
    from task_runner.workflow.model import ScheduleSpec, Workflow

__all__ = [
    "WORKFLOW_SUFFIXES",
    "Loaded",
    "WatchedFile",
    "discover",
    "duplicate_names",
    "load_for_schedule",
    "signature",
]

log = logging.getLogger("task_runner.scheduling")

WORKFLOW_SUFFIXES = (".yaml", ".yml")

#: What :func:`load_for_schedule` gives: ``(workflow, enabled schedule or None, inputs)``.
Loaded: TypeAlias = "tuple[Workflow, ScheduleSpec | None, dict[str, Any]]"


@dataclass
class WatchedFile:
    """One workflow file: what was loaded from it last and whether it is scheduled."""

    path: Path
    signature: tuple[int, int] | None = None
    workflow: Workflow | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, ConnectionConfig] = field(default_factory=dict)
    schedule: ScheduleSpec | None = None


def discover(paths: list[str]) -> list[Path]:
    """Workflow files: the files given, and ``*.yaml``/``*.yml`` directly in the folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in WORKFLOW_SUFFIXES))
        elif path.exists():
            found.append(path)
    return found


def duplicate_names(workflows: Sequence[tuple[Path, Workflow]]) -> list[InputError]:
    """One error per file whose workflow ``name`` another file of ``workflows`` has too,
    each located at its ``name:`` line and naming the other files; ``[]`` when all
    names differ.

    A workflow's name keys its runs, its lease (one run at a time) and its window in
    the history, so two files with one name would skip each other's runs and share a
    window.
    """
    from task_runner.errors import SourceLocation
    from task_runner.workflow.yaml_loader import locate

    by_name: dict[str, list[tuple[Path, SourceLocation]]] = {}
    for path, workflow in workflows:
        where = locate(workflow.data, ["name"], key=True) or SourceLocation(str(path), 1, 1)
        by_name.setdefault(workflow.name, []).append((path, where))
    errors: list[InputError] = []
    for name, places in by_name.items():
        if len(places) < 2:
            continue
        for path, where in places:
            others = ", ".join(str(w) for p, w in places if p != path)
            errors.append(
                InputError(
                    f"workflow name {name!r} is also the name of {others}",
                    location=where,
                    path="name",
                    hint="each scheduled workflow needs a name of its own: its runs, "
                    "window and history are kept by name; rename one, or disable its "
                    "schedule (schedule.enabled: false)",
                )
            )
    return errors


def signature(path: Path) -> tuple[int, int] | None:
    """``(mtime in ns, size in bytes)`` of ``path``, or None when it cannot be read: a
    change of either makes the scheduler load the file again."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def load_for_schedule(
    path: Path,
    catalogue: Catalogue | None,
    given: Mapping[str, Any],
    *,
    keeps_previous: bool,
) -> Loaded | None:
    """Load ``path``: ``(workflow, its enabled schedule or None, resolved inputs)``.

    ``given``: the scheduler's inputs (those the workflow declares are used; they are
    resolved only when it has an enabled schedule). A file that does not load, or whose
    inputs do not resolve, is logged with its located errors (saying the previous
    version keeps running when ``keeps_previous``) and gives None.
    """
    from task_runner.workflow import load_workflow
    from task_runner.workflow.prepare import resolve_inputs

    try:
        workflow = load_workflow(path, catalogue=catalogue)
        spec = workflow.schedule if workflow.schedule and workflow.schedule.enabled else None
        mine = {k: v for k, v in given.items() if k in workflow.inputs}
        # Inputs matter only to workflows that will run here.
        inputs = resolve_inputs(workflow, mine) if spec is not None else {}
    except (InputError, InputErrors) as exc:
        keeps = "; the previous version keeps running" if keeps_previous else ""
        log.error(
            "%s: cannot schedule this workflow%s:\n%s",
            path,
            keeps,
            REDACTOR.redact(exc.format()),
        )
        return None
    return workflow, spec, inputs
