"""One job: clean up after processes that were killed mid-run.

At the next start (``run``, ``schedule``), :func:`recover`:

* marks runs the history still shows ``running`` as ``abandoned`` when the process that
  recorded them (``runs.pid``) is gone and no live lease names them: a killed run never
  finished its window, so the next run covers it again (only successes move windows);
* removes orphaned temporary files (``.NAME.XXXX.tmp``, what :class:`~task_runner.http.
  sink.JsonlSink` and the token store write before their atomic ``os.replace``) that
  nobody has written to for :data:`TEMP_MAX_AGE` seconds, in the state directory and
  under the workflows' output folders (:func:`output_roots`).

Example::

    abandoned, removed = recover(History.open(), extra_dirs=[Path("out")])
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from task_runner.state.history import History, iso
from task_runner.state.leases import pid_alive

if TYPE_CHECKING:
    from task_runner.workflow.model import Workflow

__all__ = ["TEMP_MAX_AGE", "mark_abandoned", "output_roots", "recover", "sweep_temp_files"]

log = logging.getLogger("task_runner.state")

#: A temp file untouched this long (seconds) has no writer left: writers append as they go.
TEMP_MAX_AGE = 3600.0
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")


def mark_abandoned(history: History) -> list[str]:
    """Mark ``running`` runs of dead processes as ``abandoned``; return their ids."""
    import datetime as dt

    if not history.exists():
        return []
    with history._session() as conn:
        rows = conn.execute("SELECT id, pid FROM runs WHERE status = 'running'").fetchall()
    dead = [r["id"] for r in rows if r["pid"] is not None and not pid_alive(int(r["pid"]))]
    if not dead:
        return []
    now = iso(dt.datetime.now(dt.timezone.utc))
    with history._session() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for run_id in dead:
                conn.execute(
                    "UPDATE runs SET status = 'abandoned', finished_at = ?, error = ? "
                    "WHERE id = ? AND status = 'running'",
                    (
                        now,
                        "abandoned: the process running it ended without recording an end "
                        "(killed or crashed); the next run covers its window again",
                        run_id,
                    ),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    for run_id in dead:
        log.warning("run %s was left running by a process that is gone: abandoned", run_id)
    return dead


def sweep_temp_files(
    folders: Iterable[Path], *, max_age: float = TEMP_MAX_AGE, now: float | None = None
) -> list[Path]:
    """Remove ``.NAME.XXXXXX.tmp`` files under ``folders`` unmodified for ``max_age`` s."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob(".*.tmp"):
            try:
                if _TEMP_NAME.match(path.name) and now - path.stat().st_mtime > max_age:
                    path.unlink()
                    removed.append(path)
            except OSError:
                continue  # gone meanwhile, or not ours to remove
    for path in removed:
        log.warning("removed %s: a temporary file left by a process that was stopped", path)
    return removed


def output_roots(workflow: Workflow) -> list[Path]:
    """The folders a workflow's JSONL outputs are written under: each ``output.jsonl``
    up to its first template (``out/{{ run.workflow }}/...`` gives ``out``). An output
    that starts with a template names no folder and is not swept."""
    roots: set[Path] = set()
    for task in workflow.tasks.values():
        literal = (task.output_jsonl or "").split("{{", 1)[0].split("{%", 1)[0]
        folder = literal if literal.endswith("/") else literal.rpartition("/")[0]
        if folder.strip("/. "):
            roots.add(Path(folder))
    return sorted(roots)


def recover(history: History, extra_dirs: Iterable[Path] = ()) -> tuple[list[str], list[Path]]:
    """:func:`mark_abandoned` and :func:`sweep_temp_files` (the state directory and
    ``extra_dirs``); returns ``(abandoned run ids, removed files)``."""
    abandoned = mark_abandoned(history)
    removed = sweep_temp_files([history.path.parent, *extra_dirs])
    return abandoned, removed
