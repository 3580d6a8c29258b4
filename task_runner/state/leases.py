"""One job: leases and slot claims in the state database, so processes on one machine
that share a state directory never do the same work twice.

A **lease** is a row ``(name, owner, pid, host, expires_ts)`` taken in one ``BEGIN
IMMEDIATE`` transaction: free, expired, or held by a process of this host that no longer
exists means it may be taken. The holder renews it (:meth:`Lease.renewing` runs a thread
that does so every third of the TTL) and releases it when done; a killed holder's lease
frees itself after ``ttl`` seconds, or at once when its pid is gone.

A **slot claim** is a row ``(workflow, scheduled_at)``: the first scheduler to insert it
runs that fire time; every other one stands by. Claims older than a week are dropped.

Used for:

* ``schedule:<workflow>``: which of several ``schedule`` processes fires a workflow;
* ``run:<workflow>``: one run of a workflow at a time, so that two ``run`` commands (or a
  ``run`` and a scheduled run) never plan overlapping windows.

Example::

    leases = Leases(History.open().path)
    lease = leases.lease("run:procore-daily-photos", ttl=30)
    if lease.acquire(wait=600):
        with lease.renewing():
            ...plan the window, run, record...
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Holder", "Lease", "Leases", "pid_alive"]

log = logging.getLogger("task_runner.state")

BUSY_TIMEOUT_SECONDS = 60.0
#: Slot claims kept this long (seconds); only recent fire times can be fired again.
SLOT_KEEP = 7 * 86400.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        note TEXT,
        acquired_ts REAL NOT NULL,
        expires_ts REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS slots (
        workflow TEXT NOT NULL,
        scheduled_at TEXT NOT NULL,
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        claimed_ts REAL NOT NULL,
        PRIMARY KEY (workflow, scheduled_at)
    ) WITHOUT ROWID""",
    # Pruning by age must not scan every claim ever made (a scheduler makes thousands).
    "CREATE INDEX IF NOT EXISTS slots_by_age ON slots (claimed_ts)",
)

HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent is a zombie: it holds nothing
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: pid and host, an optional note (the run id), until when."""

    owner: str
    pid: int
    host: str
    note: str | None
    expires_ts: float

    def describe(self) -> str:
        what = f"run {self.note} in " if self.note else ""
        return f"{what}process {self.pid} on {self.host}"


class Leases:
    """Leases and slot claims in the SQLite database at ``path`` (the state database)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._ready = False

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            if not self._ready:
                for statement in _SCHEMA:
                    conn.execute(statement)
                self._ready = True
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def lease(self, name: str, *, ttl: float = 30.0, note: str | None = None) -> Lease:
        """A lease named ``name`` for this process (not yet acquired)."""
        return Lease(self, name, ttl=ttl, note=note)

    def holder(self, name: str) -> Holder | None:
        """Who holds ``name`` now (a live holder only), else ``None``."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT owner, pid, host, note, expires_ts FROM leases WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            return None
        holder = Holder(*row)
        return None if _stale(holder, time.time()) else holder

    def claim_slot(self, workflow: str, scheduled_at: dt.datetime, owner: str) -> str | None:
        """Claim fire time ``scheduled_at`` of ``workflow``: ``None`` when this call got it,
        else who claimed it first (``"process N"``)."""
        # Whole seconds, as run windows use: schedulers computing the same fire time may
        # differ in the microseconds.
        key = scheduled_at.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat()
        now = time.time()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO slots (workflow, scheduled_at, owner, pid, claimed_ts) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (workflow, key, owner, os.getpid(), now),
            )
            if cursor.rowcount:
                conn.execute("DELETE FROM slots WHERE claimed_ts < ?", (now - SLOT_KEEP,))
                return None
            row = conn.execute(
                "SELECT owner, pid FROM slots WHERE workflow = ? AND scheduled_at = ?",
                (workflow, key),
            ).fetchone()
        if row is not None and row[0] == owner:
            return None
        return f"process {row[1]}" if row else "another process"


def _stale(holder: Holder, now: float) -> bool:
    if now >= holder.expires_ts:
        return True
    return holder.host == HOST and not pid_alive(holder.pid)


class Lease:
    """One named lease for this process; see :class:`Leases`."""

    def __init__(self, leases: Leases, name: str, *, ttl: float, note: str | None) -> None:
        self.leases = leases
        self.name = name
        self.ttl = ttl
        self.note = note
        self.owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex}"
        self.held = False

    def try_acquire(self) -> Holder | None:
        """Take the lease if it is free (or ours, or stale): ``None``; else its holder."""
        now = time.time()
        with self.leases._write() as conn:
            row = conn.execute(
                "SELECT owner, pid, host, note, expires_ts FROM leases WHERE name = ?",
                (self.name,),
            ).fetchone()
            if row is not None and row[0] != self.owner and not _stale(Holder(*row), now):
                return Holder(*row)
            conn.execute(
                "INSERT INTO leases (name, owner, pid, host, note, acquired_ts, expires_ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "owner = excluded.owner, pid = excluded.pid, host = excluded.host, "
                "note = excluded.note, acquired_ts = excluded.acquired_ts, "
                "expires_ts = excluded.expires_ts",
                (self.name, self.owner, os.getpid(), HOST, self.note, now, now + self.ttl),
            )
        self.held = True
        return None

    def acquire(
        self,
        *,
        wait: float = 0.0,
        poll: float = 0.2,
        on_wait: Callable[[Holder], None] | None = None,
    ) -> Holder | None:
        """Take the lease, waiting up to ``wait`` seconds: ``None`` when taken, else the
        holder that kept it. ``on_wait(holder)`` hears once that we wait."""
        deadline = time.monotonic() + wait
        told = False
        while True:
            holder = self.try_acquire()
            if holder is None:
                return None
            if time.monotonic() >= deadline:
                return holder
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def renew(self) -> bool:
        """Extend the lease by ``ttl``; False when it was lost (taken over as stale)."""
        with self.leases._write() as conn:
            cursor = conn.execute(
                "UPDATE leases SET expires_ts = ? WHERE name = ? AND owner = ?",
                (time.time() + self.ttl, self.name, self.owner),
            )
        self.held = cursor.rowcount > 0
        return self.held

    def release(self) -> None:
        """Give the lease up (only if still ours)."""
        with self.leases._write() as conn:
            conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (self.name, self.owner))
        self.held = False

    @contextlib.contextmanager
    def renewing(self) -> Iterator[Lease]:
        """Keep the (acquired) lease alive while the block runs; release it after."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.ttl / 3):
                try:
                    if not self.renew():
                        log.warning("lease %s was lost while held", self.name)
                        return
                except sqlite3.Error as exc:  # keep trying: the TTL leaves room
                    log.warning("could not renew lease %s: %s", self.name, exc)

        thread = threading.Thread(target=renew, name=f"lease:{self.name}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)
            with contextlib.suppress(sqlite3.Error):
                self.release()
