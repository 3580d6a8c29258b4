"""One token and one rate budget per connection identity, shared by every run of a
scheduler and by every process on one state directory (fault 4)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from task_runner.emulator import Emulator
from task_runner.scheduling import SchedulerConfig, WorkflowScheduler
from tests.runs_support import db_rows, images_task, restore_logging, workflow_data, write_workflow

TOKEN = "/oauth/token"
IMAGES = "/rest/v1.0/images"

_logging = pytest.fixture(autouse=True)(restore_logging)


def requests_to(emulator: Emulator, path: str) -> int:
    return sum(1 for r in emulator.request_log if r.path == path)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(images=20) as em:
        yield em


def test_runs_of_one_scheduler_share_one_token(tmp_path: Path, emulator: Emulator) -> None:
    data = workflow_data("hourly", {"list_images": images_task()}, schedule={"every": "1h"})
    path = write_workflow(tmp_path / "wf" / "hourly.yaml", data)
    scheduler = WorkflowScheduler(
        SchedulerConfig(paths=[str(path)], state_dir=str(tmp_path / "state")), emulator=emulator
    )
    scheduler.start()
    try:
        key = str(path.resolve())
        start = dt.datetime(2026, 11, 30, 6, tzinfo=dt.timezone.utc)
        for hour in range(3):  # three fire times, as the scheduler fires them
            scheduler._fire(key, start + dt.timedelta(hours=hour))
    finally:
        scheduler.shutdown(grace=5)
    statuses = [r["status"] for r in db_rows(tmp_path / "state", "SELECT status FROM runs")]
    assert statuses == ["succeeded"] * 3
    assert requests_to(emulator, IMAGES) == 3
    assert requests_to(emulator, TOKEN) == 1


def _run_command(path: Path, state: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "task_runner", "run", str(path), "--state-dir", str(state)],
        env={**os.environ, **env},
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_processes_on_one_state_directory_share_the_token(
    tmp_path: Path, emulator: Emulator
) -> None:
    path = write_workflow(tmp_path / "once.yaml", workflow_data("once", {"a": images_task()}))
    other = write_workflow(tmp_path / "other.yaml", workflow_data("other", {"b": images_task()}))
    for workflow in (path, other, path):
        done = _run_command(workflow, tmp_path / "state", emulator.env())
        assert done.returncode == 0, done.stderr
    assert requests_to(emulator, IMAGES) == 3
    assert requests_to(emulator, TOKEN) == 1


def test_processes_on_one_state_directory_share_the_server_rate_budget(tmp_path: Path) -> None:
    # The API allows 2 requests an hour. Two runs (two processes) spend them; a third
    # process knows the budget is spent and sends nothing, instead of earning a 429.
    with Emulator(images=20, hourly_limit=2) as limited:
        for name in ("one", "two", "three"):
            path = write_workflow(
                tmp_path / f"{name}.yaml", workflow_data(name, {"t": images_task()})
            )
            done = _run_command(path, tmp_path / "state", limited.env())
            if name != "three":
                assert done.returncode == 0, done.stderr
        assert done.returncode == 1
        assert "rate limit is spent" in done.stdout + done.stderr
        assert requests_to(limited, IMAGES) == 2
        assert not any(r.status == 429 for r in limited.request_log if r.path == IMAGES)


def _reserve_many(db: str, count: int, queue: Any) -> None:
    import time

    from task_runner.model import RateLimit
    from task_runner.state.shared import SqliteBudgetStore

    store = SqliteBudgetStore(db, namespace="app")
    admitted = sum(
        1 for _ in range(count) if store.reserve("c", RateLimit(25, 3600), time.time()) == 0.0
    )
    queue.put(admitted)


def test_a_client_rate_limit_holds_across_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_reserve_many, args=(str(tmp_path / "state.db"), 20, queue))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert sum(queue.get(timeout=5) for _ in procs) == 25


def test_the_token_cache_file_is_private_and_holds_no_expired_token(tmp_path: Path) -> None:
    import time

    from task_runner.http.tokens import AccessToken
    from task_runner.state.shared import TOKEN_MASK_GRACE, SqliteTokenCache

    cache = SqliteTokenCache(tmp_path / "tokens" / "cache.db")
    cache.set("old", AccessToken("expired-token-value-1", time.time() - TOKEN_MASK_GRACE - 10))
    cache.set("new", AccessToken("fresh-token-value-22", time.time() + 600))
    assert (tmp_path / "tokens" / "cache.db").stat().st_mode & 0o077 == 0
    again = SqliteTokenCache(tmp_path / "tokens" / "cache.db")  # another process's view
    assert again.get("old") is None
    token = again.get("new")
    assert token is not None and token.value == "fresh-token-value-22"


def test_a_wrong_client_secret_does_not_borrow_the_cached_token(
    tmp_path: Path, emulator: Emulator
) -> None:
    path = write_workflow(tmp_path / "wf.yaml", workflow_data("wf", {"a": images_task()}))
    assert _run_command(path, tmp_path / "state", emulator.env()).returncode == 0
    wrong = {**emulator.env(), "PROCORE_CLIENT_SECRET": "not-the-secret-at-all-123"}
    done = _run_command(path, tmp_path / "state", wrong)
    assert done.returncode == 1, done.stdout
    assert requests_to(emulator, TOKEN) == 2  # it asked for its own token, and was refused
