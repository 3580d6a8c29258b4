"""One job: keep recordings on disk, one JSON file per test-request, never half-written.

A recording is what one task sent and got back: the rendered inputs and request
(secrets masked), every page's response and every attempt on the wire. Files live at
``<root>/<workflow>/<task>/<UTC timestamp>.json`` (root ``recordings/`` by default), so
that a plain directory listing sorts them by time and ``latest`` is the last name. The
items a test run wrote go beside it, ``<UTC timestamp>.jsonl``, never where scheduled
runs put their output.

Format 2 (this one) keeps every exchange as sent and received: the request's headers
as on the wire, the response text as it came (``body_text``), the page each attempt
fetched, the token requests (``token_requests``), and where the requests went
(``base_url``, ``emulated``). Format 1 files still load, list and export.

Example::

    store = RecordingStore("recordings")
    path = store.write(recording)                  # atomic: temp file + os.replace
    store.latest("procore-trade-photos", "find_trade_photos")
    store.load("procore-trade-photos/find_trade_photos")   # the latest of that task
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from task_runner.errors import LoadError, OutputError, UsageError
from task_runner.redact import REDACTOR

__all__ = [
    "DEFAULT_ROOT",
    "FORMAT",
    "FORMAT_VERSION",
    "RecordingInfo",
    "RecordingStore",
    "atomic_write_text",
    "safe_name",
    "timestamp_name",
]

DEFAULT_ROOT = "recordings"
FORMAT = "task-runner.recording"
FORMAT_VERSION = 2

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A workflow or task name as one path segment (no separators, no dot-dot)."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "_"
    return cleaned


def timestamp_name(moment: dt.datetime) -> str:
    """``20261127T224113.482913Z``: UTC, sortable as text, no colons (Windows-safe)."""
    utc = moment.astimezone(dt.timezone.utc)
    return utc.strftime("%Y%m%dT%H%M%S.%fZ")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file, the new one, or none.

    The temp file sits in the same folder (``os.replace`` is atomic only within one
    file system) and is removed when anything fails, so no partial file is ever left.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes 0600; a recording is an ordinary file
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@dataclass(frozen=True)
class RecordingInfo:
    """One recording file as listed: where it is and what it says in brief."""

    path: Path
    workflow: str
    task: str
    recorded_at: str
    status: str | None
    http_status: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "workflow": self.workflow,
            "task": self.task,
            "recorded_at": self.recorded_at,
            "status": self.status,
            "http_status": self.http_status,
        }


class RecordingStore:
    """Recordings under one root folder."""

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def folder(self, workflow: str, task: str) -> Path:
        return self.root / safe_name(workflow) / safe_name(task)

    def new_path(self, workflow: str, task: str, when: dt.datetime | None = None) -> Path:
        """A free name for a recording of ``task`` made ``when`` (now): its JSONL beside
        it (same name, ``.jsonl``) is free too. Chosen before a run, so that the items
        the run writes and the recording written after it share one name."""
        moment = when or dt.datetime.now(dt.timezone.utc)
        folder = self.folder(workflow, task)
        path = folder / f"{timestamp_name(moment)}.json"
        suffix = 1
        # Two recordings in the same microsecond: keep both.
        while path.exists() or path.with_suffix(".jsonl").exists():
            path = folder / f"{timestamp_name(moment)}-{suffix}.json"
            suffix += 1
        return path

    def write(
        self,
        recording: dict[str, Any],
        *,
        when: dt.datetime | None = None,
        path: Path | None = None,
    ) -> Path:
        """Store ``recording`` (redacted once more, to be sure) at ``path`` (by default a
        :meth:`new_path` for ``when``) and return the path."""
        if path is None:
            path = self.new_path(str(recording["workflow"]), str(recording["task"]), when)
        text = REDACTOR.dumps(recording, indent=2)
        try:
            atomic_write_text(path, text + "\n")
        except OSError as exc:
            raise OutputError(f"cannot write the recording {path}: {exc.strerror or exc}") from exc
        return path

    def paths(self, workflow: str | None = None, task: str | None = None) -> list[Path]:
        """Recording files, oldest first (by name, which is the UTC time)."""
        base = self.root
        if workflow:
            base = base / safe_name(workflow)
            if task:
                base = base / safe_name(task)
        return _recording_files(base)

    def latest(self, workflow: str, task: str) -> Path | None:
        paths = self.paths(workflow, task)
        return paths[-1] if paths else None

    def iter_latest_first(self, workflow: str, task: str) -> Iterator[Path]:
        yield from reversed(self.paths(workflow, task))

    def list(self, workflow: str | None = None) -> list[RecordingInfo]:
        infos: list[RecordingInfo] = []
        for path in self.paths(workflow):
            try:
                data = self.load(path)
            except LoadError:
                continue  # a foreign file in the folder: not ours to list
            result = data.get("result") or {}
            infos.append(
                RecordingInfo(
                    path=path,
                    workflow=str(data.get("workflow", path.parent.parent.name)),
                    task=str(data.get("task", path.parent.name)),
                    recorded_at=str(data.get("recorded_at", "")),
                    status=result.get("status"),
                    http_status=result.get("http_status"),
                )
            )
        infos.sort(key=lambda i: (i.recorded_at, str(i.path)))
        return infos

    def resolve(self, ref: str | Path) -> Path:
        """A recording file from a path, or ``WORKFLOW/TASK[/NAME]`` under the root.

        A folder means its latest recording.
        """
        for candidate in (Path(ref), self.root / ref, self.root / f"{ref}.json"):
            if candidate.is_file():
                return candidate
            found = _recording_files(candidate)
            if found:
                return found[-1]
        raise UsageError(
            f"no recording {str(ref)!r}",
            hint=f"give a file, or WORKFLOW/TASK under {self.root}; "
            "see 'task-runner recordings list'",
        )

    def load(self, ref: str | Path) -> dict[str, Any]:
        path = ref if isinstance(ref, Path) and ref.is_file() else self.resolve(ref)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LoadError(f"cannot read the recording {path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LoadError(f"{path} is not a task-runner recording")
        return data


def _recording_files(folder: Path) -> list[Path]:
    """The recordings under ``folder``, oldest first (names are UTC times); dot-temp files skipped."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.rglob("*.json") if not p.name.startswith(".")]
    return sorted(found, key=lambda p: (p.name, str(p)))
