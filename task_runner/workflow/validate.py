"""``task-runner validate``: check workflow files and report every mistake at once.

Beyond what loading checks (structure, references, literal params, templates), a
workflow whose inputs are all known (defaults or ``--input``) also has its templated
params rendered and checked, so ``"{{ inputs.project_id }}"`` fed ``abc`` is caught here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import InputError, InputErrors, LoadError, SourceLocation, TaskRunnerError

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.workflow.model import Workflow

__all__ = ["collect_workflow_files", "validate_paths"]

WORKFLOW_SUFFIXES = (".yaml", ".yml")


def collect_workflow_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders searched recursively for ``*.yaml``/``*.yml``."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in WORKFLOW_SUFFIXES and p.is_file())
            )
        else:
            files.append(path)
    return files


def render_check(workflow: Workflow, inputs: Mapping[str, Any]) -> list[InputError]:
    """Render the params of tasks that do not read other tasks' outputs, and check them."""
    from task_runner.workflow.prepare import Preparer, RunContext, resolve_inputs
    from task_runner.workflow.templating import PlaceholderSecrets

    try:
        values = resolve_inputs(workflow, inputs)
    except InputErrors as exc:
        return list(exc.errors) if inputs else []
    except InputError as exc:
        return [exc] if inputs else []
    preparer = Preparer(
        workflow, values, RunContext.now(workflow.name), secrets=PlaceholderSecrets()
    )
    errors: list[InputError] = []
    with workflow.templates.budget():  # one budget for the whole check: bombs add up
        for name, task in workflow.tasks.items():
            if task.references or not task.operation:
                continue
            try:
                preparer.prepare(name)
            except InputErrors as exc:
                errors.extend(exc.errors)
            except InputError as exc:
                exc.location = exc.location or task.location
                errors.append(exc)
            except TaskRunnerError:
                continue
    return errors


def validate_paths(
    paths: Sequence[str | Path],
    *,
    inputs: Mapping[str, Any] | None = None,
    catalogue: Catalogue | None = None,
) -> tuple[list[Path], list[InputError]]:
    """Validate every workflow under ``paths``; return the files and all errors, sorted."""
    from task_runner.workflow.loader import load_workflow

    if catalogue is None:
        from task_runner.catalogue import Catalogue

        catalogue = Catalogue.load()
    files = collect_workflow_files(paths)
    errors: list[InputError] = []
    if not files:
        errors.append(
            LoadError(
                "no workflow files (*.yaml, *.yml) found",
                location=SourceLocation(str(paths[0]) if paths else "."),
            )
        )
    for file in files:
        try:
            workflow = load_workflow(file, catalogue=catalogue)
        except InputErrors as exc:
            errors.extend(exc.errors)
            continue
        except InputError as exc:
            errors.append(exc)
            continue
        errors.extend(render_check(workflow, inputs or {}))
    errors.sort(key=lambda e: e.sort_key())
    return files, errors
