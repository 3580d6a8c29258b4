"""Recordings and the drift between two of them, as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from task_runner.recording.drift import Drift
    from task_runner.recording.store import RecordingStore

__all__ = ["drift_between", "drift_json", "recording_json", "recordings_json"]


def recordings_json(store: RecordingStore, workflow: str | None = None) -> dict[str, Any]:
    """``{root, recordings: [{path, workflow, task, recorded_at, status, http_status}]}``,
    oldest first; of one workflow (by name) when given."""
    infos = store.list(workflow)
    return {"root": str(store.root), "recordings": [i.to_json() for i in infos]}


def recording_json(store: RecordingStore, ref: str | Path) -> dict[str, Any]:
    """``{path, ...the recording}`` for a file or ``WORKFLOW/TASK`` (its latest)."""
    path = store.resolve(ref)
    return {"path": str(path), **store.load(path)}


def drift_between(
    store: RecordingStore, before: str | Path, after: str | Path | None = None
) -> Drift:
    """How recording ``after`` differs from ``before``; without ``after``, how ``before``
    differs from the recording of its task before it (UsageError when there is none)."""
    from task_runner.errors import UsageError
    from task_runner.recording.drift import diff_recordings, previous_recording

    after_path = store.resolve(after if after is not None else before)
    if after is not None:
        before_path = store.resolve(before)
    else:
        found = previous_recording(
            store.paths(after_path.parent.parent.name, after_path.parent.name), after_path
        )
        if found is None:
            raise UsageError(
                f"no recording before {after_path} to compare with", hint="give two recordings"
            )
        before_path = found
    return diff_recordings(
        store.load(before_path),
        store.load(after_path),
        before_path=str(before_path),
        after_path=str(after_path),
    )


def drift_json(
    store: RecordingStore, before: str | Path, after: str | Path | None = None
) -> dict[str, Any]:
    """``recordings diff --output json``: :func:`drift_between` as JSON (``drifted``,
    ``summary``, ``before``, ``after``, ``fields``, ``status``, ``headers``, ``counts``)."""
    return drift_between(store, before, after).to_json()
