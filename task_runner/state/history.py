"""Run history in SQLite: one row per run, one per task result.

The database is shared by every process that runs workflows on this machine (``run``,
``schedule``, Celery workers), so it uses WAL mode (readers never block the writer),
a busy timeout (writers queue instead of failing) and ``BEGIN IMMEDIATE`` for every write
(a transaction takes the write lock up front, so two writers never deadlock upgrading a
read lock). Each operation opens its own short-lived connection: safe across threads and
forks, and cheap next to an HTTP request.

Everything stored goes through :data:`~task_runner.redact.REDACTOR` first.

Example::

    history = History.open()                    # .task-runner/state.db under the cwd
    history.start_run(run, inputs={"project_id": 777})
    history.finish_run(result)
    history.list_runs(workflow="procore-daily-photos", limit=5)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import RunError
from task_runner.redact import REDACTOR

if TYPE_CHECKING:
    from task_runner.runner.result import RunResult
    from task_runner.workflow.prepare import RunContext

__all__ = [
    "DB_NAME",
    "RUN_STATUSES",
    "STATE_DIR_ENV",
    "History",
    "SuccessRecord",
    "resolve_state_dir",
]

STATE_DIR_ENV = "TASK_RUNNER_STATE_DIR"
DB_NAME = "state.db"
#: ``abandoned``: left ``running`` by a process that was killed (see ``state.recovery``).
RUN_STATUSES = ("running", "succeeded", "failed", "interrupted", "skipped", "abandoned")
BUSY_TIMEOUT_SECONDS = 60.0
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    workflow_path TEXT,
    trigger TEXT NOT NULL,
    scheduled_at TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    error TEXT,
    window_start TEXT,
    window_end TEXT,
    window_end_ts REAL,
    previous_success_at TEXT,
    inputs TEXT,
    item_count INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    created_ts REAL NOT NULL,
    result TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow, created_ts);
CREATE INDEX IF NOT EXISTS runs_by_success ON runs (workflow, status, window_end_ts);
CREATE TABLE IF NOT EXISTS task_results (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    http_status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0,
    items INTEGER NOT NULL DEFAULT 0,
    elapsed REAL NOT NULL DEFAULT 0,
    recording TEXT,
    output TEXT,
    error TEXT,
    PRIMARY KEY (run_id, task)
);
-- What windowed tasks delivered (digests of key + version, see task_runner.http.tally),
-- kept while a later window may overlap the one that delivered it.
CREATE TABLE IF NOT EXISTS delivered (
    workflow TEXT NOT NULL,
    task TEXT NOT NULL,
    digest TEXT NOT NULL,
    window_end_ts REAL NOT NULL,
    PRIMARY KEY (workflow, task, digest)
) WITHOUT ROWID;
"""

_RUN_COLUMNS = (
    "id, workflow, workflow_path, trigger, scheduled_at, started_at, finished_at, status, "
    "error, window_start, window_end, previous_success_at, inputs, item_count, pid"
)


def resolve_state_dir(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """``--state-dir``, else ``$TASK_RUNNER_STATE_DIR``, else ``.task-runner`` under the cwd."""
    if state_dir:
        return Path(state_dir)
    env = os.environ.get(STATE_DIR_ENV)
    return Path(env) if env else Path.cwd() / ".task-runner"


def iso(moment: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``; naive datetimes are taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class SuccessRecord:
    """The previous successful run of a workflow: where the next window starts."""

    run_id: str
    window_end: dt.datetime
    started_at: dt.datetime


class History:
    """The run history database at ``path`` (created on first write)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._ready = False

    @classmethod
    def open(cls, state_dir: str | os.PathLike[str] | None = None) -> History:
        """The history under ``state_dir`` (see :func:`resolve_state_dir`)."""
        return cls(resolve_state_dir(state_dir) / DB_NAME)

    def exists(self) -> bool:
        return self.path.exists()

    # -- connections ----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        # WAL makes every commit durable against a crash of the process; NORMAL only gives
        # up durability against power loss, and saves an fsync per run.
        conn.execute("PRAGMA synchronous = NORMAL")
        if not self._ready:
            self._initialise(conn)
        return conn

    def _initialise(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL needs a moment alone with the file; another process creating
        # the database at the same time may hold it, so wait for it like for any lock.
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                with _write(conn):
                    # executescript would commit early; run the statements one by one
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._ready = True

    @contextlib.contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connect()
            try:
                yield conn
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise RunError(
                f"run history {self.path}: {exc}",
                hint=f"check that the directory is writable, or choose another with "
                f"--state-dir or {STATE_DIR_ENV}",
            ) from exc

    # -- writes ---------------------------------------------------------------------------

    def start_run(
        self,
        run: RunContext,
        *,
        inputs: Mapping[str, Any] | None = None,
        workflow_path: str | None = None,
    ) -> None:
        """Record ``run`` as running (a redelivered run id starts over)."""
        row = {
            "id": run.id,
            "workflow": run.workflow,
            "workflow_path": workflow_path,
            "trigger": run.trigger,
            "scheduled_at": iso(run.scheduled_at),
            "started_at": iso(run.started_at),
            "window_start": iso(run.window_start),
            "window_end": iso(run.window_end),
            "window_end_ts": run.window_end.timestamp() if run.window_end else None,
            "previous_success_at": iso(run.previous_success_at),
            "inputs": _json(inputs or {}),
            "pid": os.getpid(),
            "created_ts": time.time(),
        }
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        updates = ", ".join(f"{k} = excluded.{k}" for k in row if k != "id")
        with self._session() as conn, _write(conn):
            conn.execute(
                f"INSERT INTO runs ({columns}, status) VALUES ({marks}, 'running') "
                f"ON CONFLICT (id) DO UPDATE SET {updates}, status = 'running', "
                "finished_at = NULL, error = NULL, result = NULL, item_count = 0",
                REDACTOR.redact_obj(row),
            )
            conn.execute("DELETE FROM task_results WHERE run_id = ?", (run.id,))

    def delivered(
        self, workflow: str, tasks: Iterable[str], since: dt.datetime
    ) -> dict[str, frozenset[str]]:
        """Per task, the digests delivered by runs whose window ended at or after ``since``
        (the start of the window about to run: those windows overlap or touch it, and
        range filters such as Procore's ``a...b`` include both ends)."""
        found: dict[str, set[str]] = {name: set() for name in tasks}
        if not found or not self.exists():
            return {name: frozenset(v) for name, v in found.items()}
        with self._session() as conn:
            for task, digest in conn.execute(
                "SELECT task, digest FROM delivered WHERE workflow = ? AND window_end_ts >= ?",
                (workflow, since.timestamp()),
            ):
                if task in found:
                    found[task].add(digest)
        return {name: frozenset(v) for name, v in found.items()}

    def finish_run(
        self,
        result: RunResult,
        *,
        window_end: dt.datetime | None = None,
        forget_before: dt.datetime | None = None,
    ) -> None:
        """Record ``result`` (final status, task results) in one transaction.

        A succeeded run's windowed tasks' delivered digests are kept with ``window_end``
        in the same transaction; digests of windows that ended before ``forget_before``
        (no later window can reach back to them) are dropped.
        """
        data = result.to_json()
        with self._session() as conn, _write(conn):
            if result.status == "succeeded" and window_end is not None:
                self._remember(conn, result, window_end, forget_before)
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ?, item_count = ?, "
                "result = ? WHERE id = ?",
                (
                    result.status,
                    result.finished_at or iso(_utcnow()),
                    _text(result.error),
                    result.item_count,
                    _json(data),
                    result.run_id,
                ),
            )
            conn.execute("DELETE FROM task_results WHERE run_id = ?", (result.run_id,))
            conn.executemany(
                "INSERT INTO task_results (run_id, position, task, status, http_status, "
                "attempts, pages, items, elapsed, recording, output, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        result.run_id,
                        position,
                        name,
                        task.status,
                        task.http_status,
                        len(task.attempts),
                        task.pages,
                        task.item_count,
                        round(task.elapsed, 3),
                        _text(task.recording),
                        _text(task.output),
                        _text(task.error),
                    )
                    for position, (name, task) in enumerate(result.tasks.items())
                ],
            )

    @staticmethod
    def _remember(
        conn: sqlite3.Connection,
        result: RunResult,
        window_end: dt.datetime,
        forget_before: dt.datetime | None,
    ) -> None:
        if forget_before is not None:
            conn.execute(
                "DELETE FROM delivered WHERE workflow = ? AND window_end_ts < ?",
                (result.workflow, forget_before.timestamp()),
            )
        stamp = window_end.timestamp()
        conn.executemany(
            "INSERT INTO delivered (workflow, task, digest, window_end_ts) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (workflow, task, digest) DO UPDATE SET window_end_ts = excluded.window_end_ts",
            (
                (result.workflow, name, digest, stamp)
                for name, task in result.tasks.items()
                for digest in task.delivered
            ),
        )

    def fail_run(self, run_id: str, status: str, error: str) -> None:
        """Close a run that ended before it produced a result (input error, crash)."""
        with self._session() as conn, _write(conn):
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? "
                "WHERE id = ? AND status = 'running'",
                (status, iso(_utcnow()), _text(error), run_id),
            )

    def mark_interrupted(self, run_id: str, error: str) -> bool:
        """Record a still-running run as interrupted; False when it already finished."""
        with self._session() as conn, _write(conn):
            cursor = conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? "
                "WHERE id = ? AND status = 'running'",
                (iso(_utcnow()), _text(error), run_id),
            )
            return cursor.rowcount > 0

    def record_skipped(
        self,
        run_id: str,
        workflow: str,
        *,
        trigger: str,
        scheduled_at: dt.datetime | None,
        reason: str,
        workflow_path: str | None = None,
    ) -> None:
        """A run that did not start (the previous one was still active)."""
        now = iso(_utcnow())
        with self._session() as conn, _write(conn):
            conn.execute(
                "INSERT INTO runs (id, workflow, workflow_path, trigger, scheduled_at, "
                "started_at, finished_at, status, error, pid, created_ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'skipped', ?, ?, ?)",
                (
                    run_id,
                    workflow,
                    workflow_path,
                    trigger,
                    iso(scheduled_at),
                    now,
                    now,
                    _text(reason),
                    os.getpid(),
                    time.time(),
                ),
            )

    # -- reads ----------------------------------------------------------------------------

    def last_success(self, workflow: str) -> SuccessRecord | None:
        """The successful run of ``workflow`` whose window reaches furthest."""
        if not self.exists():
            return None
        with self._session() as conn:
            row = conn.execute(
                "SELECT id, window_end, started_at FROM runs WHERE workflow = ? "
                "AND status = 'succeeded' AND window_end_ts IS NOT NULL "
                "ORDER BY window_end_ts DESC LIMIT 1",
                (workflow,),
            ).fetchone()
        if row is None:
            return None
        end, started = parse_iso(row["window_end"]), parse_iso(row["started_at"])
        assert end is not None and started is not None
        return SuccessRecord(row["id"], end, started)

    def last_scheduled(self, workflow: str) -> dt.datetime | None:
        """The latest fire time a scheduler ran (or skipped) ``workflow`` for, else None:
        where a scheduler that was down resumes (``schedule.misfire``)."""
        if not self.exists():
            return None
        with self._session() as conn:
            row = conn.execute(
                "SELECT MAX(scheduled_at) FROM runs WHERE workflow = ? AND trigger = 'schedule'",
                (workflow,),
            ).fetchone()
        return parse_iso(row[0]) if row and row[0] else None

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The stored ``RunResult.to_json()`` of a finished run, else None."""
        if not self.exists():
            return None
        with self._session() as conn:
            row = conn.execute("SELECT result FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None or row["result"] is None:
            return None
        return json.loads(row["result"])  # type: ignore[no-any-return]

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run's row plus its task results (``runs show``)."""
        if not self.exists():
            return None
        with self._session() as conn:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            tasks = conn.execute(
                "SELECT task, status, http_status, attempts, pages, items, elapsed, "
                "recording, output, error FROM task_results WHERE run_id = ? ORDER BY position",
                (run_id,),
            ).fetchall()
            stored = conn.execute("SELECT result FROM runs WHERE id = ?", (run_id,)).fetchone()
        record = _run_dict(row)
        results = (json.loads(stored[0]) if stored and stored[0] else {}).get("tasks") or {}
        record["tasks"] = [_with_tally(dict(t), results.get(t["task"]) or {}) for t in tasks]
        return record

    def list_runs(self, *, workflow: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs first."""
        if not self.exists():
            return []
        where, params = ("WHERE workflow = ?", [workflow]) if workflow else ("", [])
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY created_ts DESC, id DESC "
                "LIMIT ?",
                (*params, max(0, limit)),
            ).fetchall()
        return [_run_dict(row) for row in rows]

    def running(self, workflow: str | None = None) -> list[str]:
        """Ids of runs recorded as running (active, or left behind by a crash)."""
        if not self.exists():
            return []
        where = "AND workflow = ?" if workflow else ""
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT id FROM runs WHERE status = 'running' {where} ORDER BY created_ts",
                (workflow,) if workflow else (),
            ).fetchall()
        return [r["id"] for r in rows]


@contextlib.contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that takes the database's write lock at its start."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_TALLY_FIELDS = (
    "total_reported",
    "duplicates_dropped",
    "already_delivered",
    "complete",
    "warnings",
)


def _with_tally(task: dict[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """A task row with what its result vouched for (``complete``, ``warnings``...)."""
    for key in _TALLY_FIELDS:
        task[key] = result.get(key)
    return task


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    record["inputs"] = json.loads(record["inputs"]) if record.get("inputs") else {}
    return record


def _json(value: Any) -> str:
    return REDACTOR.dumps(value)


def _text(value: str | None) -> str | None:
    return REDACTOR.redact(value) if value is not None else None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
