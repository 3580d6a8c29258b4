"""Secrets belong to a run, tokens to their lifetime: a long-lived scheduler does not
collect every run's secrets (fault 3), and nothing is unmasked while it is still in use."""

from __future__ import annotations

import concurrent.futures
import contextvars
import datetime as dt
import os
import time
import uuid
from pathlib import Path

import pytest

from task_runner.emulator import Emulator
from task_runner.redact import MASK, REDACTOR, Redactor
from task_runner.scheduling import SchedulerConfig, WorkflowScheduler
from tests.runs_support import db_rows, images_task, restore_logging, workflow_data, write_workflow

_logging = pytest.fixture(autouse=True)(restore_logging)


def live_forms() -> int:
    return len(REDACTOR._registry.values)


def test_a_scheduler_does_not_keep_the_secrets_of_past_runs(tmp_path: Path) -> None:
    # Each run sends a secret that changes from run to run (a one-time note, a rotated
    # key): after the runs, the process masks no more than after the first.
    task = images_task(**{"filters[query]": "{{ secrets.RUN_NOTE_SECRET }}"})
    data = workflow_data("noted", {"list_images": task}, schedule={"every": "1h"})
    path = write_workflow(tmp_path / "wf" / "noted.yaml", data)
    start = dt.datetime(2026, 11, 30, 6, tzinfo=dt.timezone.utc)
    notes: list[str] = []
    with Emulator(images=5) as emulator:
        scheduler = WorkflowScheduler(
            SchedulerConfig(paths=[str(path)], state_dir=str(tmp_path / "state")),
            emulator=emulator,
        )
        scheduler.start()
        try:
            key = str(path.resolve())
            sizes = []
            for hour in range(25):
                notes.append(f"run-note-{uuid.uuid4().hex}")
                os.environ["RUN_NOTE_SECRET"] = notes[-1]
                scheduler._fire(key, start + dt.timedelta(hours=hour))
                sizes.append(live_forms())
        finally:
            os.environ.pop("RUN_NOTE_SECRET", None)
            scheduler.shutdown(grace=5)
        sent = " ".join(r.query for r in emulator.request_log)
    runs = db_rows(tmp_path / "state", "SELECT status FROM runs")
    assert [r["status"] for r in runs] == ["succeeded"] * 25
    assert all(note in sent for note in notes)  # each run did send its own secret
    assert max(sizes) == sizes[0], sizes  # ... and the process forgot it afterwards
    assert all(note not in REDACTOR for note in notes)


def test_values_added_in_a_scope_are_masked_until_it_closes() -> None:
    redactor = Redactor(["process-wide-secret"])
    with redactor.scope("run-1") as scope:
        redactor.add("run-one-secret")
        assert redactor.redact("a run-one-secret b") == f"a {MASK} b"
        with redactor.scope("nested") as inner:  # a nested scope is the same scope
            redactor.add("inner-secret-value")
            assert inner is scope
        assert len(scope) >= 2
    assert redactor.redact("run-one-secret inner-secret-value") == (
        "run-one-secret inner-secret-value"
    )
    assert redactor.redact("process-wide-secret") == MASK


def test_a_run_scope_masks_for_every_thread_while_it_is_open() -> None:
    # Another run's log line, written from another thread, masks this run's secrets too.
    redactor = Redactor()
    with redactor.scope("run-a"):
        redactor.add("secret-of-run-a")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(redactor.redact, "x secret-of-run-a").result() == f"x {MASK}"


def test_tasks_run_in_a_copied_context_add_to_the_run_scope() -> None:
    redactor = Redactor()
    with redactor.scope("run") as scope:
        context = contextvars.copy_context()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(context.run, redactor.add, "added-by-a-task").result()
        assert "added-by-a-task" in scope.forms
    assert "added-by-a-task" not in redactor


def test_two_open_scopes_forget_only_their_own_values() -> None:
    redactor = Redactor()
    a, b = contextvars.copy_context(), contextvars.copy_context()
    scope_b = b.run(redactor.scope, "b")
    b.run(scope_b.__enter__)
    b.run(redactor.add, "secret-of-b-run")
    with redactor.scope("a"):
        a.run(redactor.add, "secret-of-a-run")  # a context with no scope: process-wide
        redactor.add("scoped-to-a-only")
    assert "scoped-to-a-only" not in redactor
    assert "secret-of-b-run" in redactor  # b is still open
    b.run(scope_b.__exit__, None, None, None)
    assert "secret-of-b-run" not in redactor
    assert "secret-of-a-run" in redactor


def test_an_expiring_value_is_masked_until_it_expires() -> None:
    redactor = Redactor()
    redactor.add("short-lived-token-1", expires_at=time.time() + 0.2)
    redactor.add("long-lived-token-22", expires_at=time.time() + 3600)
    assert redactor.redact("short-lived-token-1") == MASK
    time.sleep(0.3)
    assert redactor.redact("short-lived-token-1 long-lived-token-22") == (
        f"short-lived-token-1 {MASK}"
    )


def test_a_token_kept_by_the_cache_outlives_the_run_that_fetched_it() -> None:
    redactor = Redactor()
    with redactor.scope("run"):
        redactor.add("access-token-abc123")  # what the auth layer registers
        redactor.add("access-token-abc123", expires_at=time.time() + 60)  # the cache
    assert redactor.redact("access-token-abc123") == MASK


def test_many_scoped_runs_leave_the_matcher_as_small_as_one() -> None:
    redactor = Redactor(["the-client-secret"])
    baseline = len(redactor._registry.values)
    for n in range(2000):
        with redactor.scope(f"run-{n}"):
            redactor.add(f"token-of-run-{n:05d}")
            assert redactor.redact(f"t=token-of-run-{n:05d}") == f"t={MASK}"
    assert len(redactor._registry.values) == baseline
    assert redactor.contains_secret("x the-client-secret")
    assert not redactor.contains_secret("token-of-run-00001")


def test_a_scope_repr_names_no_secret() -> None:
    redactor = Redactor()
    with redactor.scope("run-x") as scope:
        redactor.add("canary-scope-secret-123")
        assert "canary" not in repr(scope) and "canary" not in str(scope)
