"""The run history as JSON: ``runs list`` rows and ``runs show`` runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from task_runner.state import History

__all__ = ["run_json", "runs_json"]


def runs_json(
    history: History, *, workflow: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The newest ``limit`` runs first (of ``workflow`` only, when given): each ``{id,
    workflow, trigger, status, started_at, finished_at, item_count, error, ...}`` as the
    history stores it."""
    return list(history.list_runs(workflow=workflow, limit=limit))


def run_json(history: History, run_id: str) -> dict[str, Any]:
    """One run with its ``tasks`` (status, http_status, pages, items, attempts, elapsed
    seconds, output, recording, error); raises UnresolvedReferenceError when unknown."""
    from task_runner.errors import UnresolvedReferenceError

    run = history.run(run_id)
    if run is None:
        raise UnresolvedReferenceError(
            f"no run {run_id!r} in the run history {history.path}",
            hint="see `task-runner runs list` for run ids",
        )
    return dict(run)
