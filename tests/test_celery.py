"""Celery workers over Redis: real redis-server, real worker subprocesses, the emulator."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from task_runner.distributed.local import RedisServer
from task_runner.emulator import Emulator
from tests.celery_support import (
    INPUT_ARGS,
    INPUTS,
    Cluster,
    point_app_at,
    start_redis,
    wait_until,
    write_workflow,
)

redis = pytest.importorskip("redis")
pytest.importorskip("celery")

pytestmark = pytest.mark.timeout(90)

IMAGES_PATH = "/rest/v1.0/images"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    saved = {k: os.environ.get(k) for k in ("TASK_RUNNER_BROKER_URL", "TASK_RUNNER_RESULT_BACKEND")}
    server = start_redis()
    point_app_at(server.url)
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def rdb(redis_server: RedisServer) -> Any:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    return client


def _image_requests(emulator: Emulator) -> int:
    return sum(1 for r in emulator.request_log if r.path == IMAGES_PATH)


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    """What must match between two runs of the same workflow (not ids, times, paths)."""
    return {
        "workflow": result["workflow"],
        "status": result["status"],
        "item_count": result["item_count"],
        "tasks": {
            name: {k: task[k] for k in ("status", "http_status", "pages", "item_count", "error")}
            for name, task in result["tasks"].items()
        },
    }


# --- end to end: submit, budget, redelivery ------------------------------------------------


def test_submit_wait_returns_the_same_result_as_run(rdb: Any, tmp_path: Path) -> None:
    with Emulator(images=60) as emulator:
        with Cluster(tmp_path, _url(rdb), emulator.env()) as cluster:
            workflow = str(write_workflow(tmp_path, per_page=25))
            cluster.worker(pool="threads", concurrency=2)
            local = cluster.cli("run", workflow, *INPUT_ARGS, "--output", "json")
            remote = cluster.cli(
                "submit", workflow, *INPUT_ARGS, "--wait", "--timeout", "60", "--output", "json"
            )
            assert local.returncode == 0, local.stderr
            assert remote.returncode == 0, remote.stderr
            ran, submitted = json.loads(local.stdout), json.loads(remote.stdout)
            assert _comparable(submitted) == _comparable(ran)
            assert submitted["tasks"]["list_images"]["pages"] == 3
            assert submitted["item_count"] == 60
            assert submitted["trigger"] == "celery"
            assert submitted["run_id"] != ran["run_id"]
            # The worker wrote the output under its own working directory.
            output = tmp_path / submitted["tasks"]["list_images"]["output"]
            assert len(output.read_text().splitlines()) == 60

            text = cluster.cli("submit", workflow, *INPUT_ARGS, "--wait", "--timeout", "60")
            assert text.returncode == 0, text.stderr
            first = text.stdout.splitlines()[0]
            assert first.startswith("run ") and first.endswith("of celery-images: succeeded")
            assert "3 page(s)  60 item(s)" in text.stdout


def test_submit_rejects_input_mistakes_before_enqueueing(rdb: Any, tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, _url(rdb), {})
    workflow = str(write_workflow(tmp_path))
    missing = cluster.cli("submit", workflow, "-i", "company_id=8089")
    assert missing.returncode == 2, missing.stderr
    assert "project_id" in missing.stderr
    wrong = cluster.cli("submit", workflow, "-i", "company_id=x", "-i", "project_id=777")
    assert wrong.returncode == 2, wrong.stderr
    assert rdb.llen("task-runner") == 0
    assert not rdb.keys("*")  # nothing was enqueued or recorded


def test_submit_prints_the_run_id_and_wait_timeout_is_a_clear_error(
    rdb: Any, tmp_path: Path
) -> None:
    cluster = Cluster(tmp_path, _url(rdb), {})
    workflow = str(write_workflow(tmp_path))
    sent = cluster.cli("submit", workflow, *INPUT_ARGS, "--output", "json")
    assert sent.returncode == 0, sent.stderr
    run_id = json.loads(sent.stdout)["run_id"]
    assert rdb.llen("task-runner") == 1
    assert run_id in rdb.lindex("task-runner", 0).decode()

    waited = cluster.cli(
        "submit", workflow, *INPUT_ARGS, "--queue", "nobody-listens", "--wait", "--timeout", "1"
    )
    assert waited.returncode == 1
    assert "did not finish within 1s" in waited.stderr
    assert "Traceback" not in waited.stderr


def test_two_workers_share_one_rate_budget(rdb: Any, tmp_path: Path) -> None:
    from task_runner.distributed.dispatch import submit, wait_for

    requests, per = 4, 1.0
    with Emulator(images=60, latency=0.02) as emulator:
        with Cluster(tmp_path, _url(rdb), emulator.env()) as cluster:
            workflow = write_workflow(tmp_path, per_page=10, rate_limit=(requests, "1s"))
            first = cluster.worker(pool="prefork", concurrency=2)
            second = cluster.worker(pool="threads", concurrency=2)
            run_ids = [submit(workflow, INPUTS) for _ in range(4)]
            results = [wait_for(run_id, timeout=60) for run_id in run_ids]

            assert [r["status"] for r in results] == ["succeeded"] * 4
            assert [r["item_count"] for r in results] == [60] * 4
            assert _image_requests(emulator) == 4 * 6
            assert first.succeeded() >= 1 and second.succeeded() >= 1
            # Counted where it matters, at the server (100 ms of slack for loopback transit):
            # four runs on four slots at once stay inside ONE budget of 4 requests a second.
            assert emulator.max_requests_in_window(per - 0.1) <= requests


def test_killed_worker_run_is_redelivered_and_completes_once(rdb: Any, tmp_path: Path) -> None:
    from task_runner.distributed.dispatch import submit, wait_for
    from task_runner.state.history import History

    with Emulator(images=60, latency=0.4) as emulator:
        with Cluster(tmp_path, _url(rdb), emulator.env()) as cluster:
            workflow = write_workflow(tmp_path, per_page=10)  # 6 slow pages
            doomed = cluster.worker(pool="threads", concurrency=1)
            run_id = submit(workflow, INPUTS)
            wait_until(lambda: _image_requests(emulator) >= 2, what="the run to be under way")
            doomed.kill()
            sent_before_kill = _image_requests(emulator)
            assert sent_before_kill < 6  # really killed mid-run

            rescuer = cluster.worker(pool="threads", concurrency=1)
            result = wait_for(run_id, timeout=45)
            assert result["status"] == "succeeded", result
            assert result["run_id"] == run_id
            assert result["item_count"] == 60

            outputs = list((tmp_path / "out" / "celery-images").glob("*/images.jsonl"))
            assert [p.parent.name for p in outputs] == [run_id]
            assert len(outputs[0].read_text().splitlines()) == 60
            history = History.open(tmp_path / "state")
            runs = [r for r in history.list_runs(workflow="celery-images") if r["id"] == run_id]
            assert [r["status"] for r in runs] == ["succeeded"]
            assert wait_until(lambda: rescuer.succeeded() == 1, what="the rescuer's log")

            # The same message again (a late redelivery): answered from the record, not re-run.
            sent_after_success = _image_requests(emulator)
            assert submit(workflow, INPUTS, run_id=run_id) == run_id
            wait_until(lambda: rescuer.succeeded() == 2, what="the duplicate to be handled")
            assert _image_requests(emulator) == sent_after_success
            assert len(outputs[0].read_text().splitlines()) == 60


# --- scheduled runs -------------------------------------------------------------------------


def test_scheduled_run_is_enqueued_once_per_schedule_time(rdb: Any, tmp_path: Path) -> None:
    from task_runner.distributed.dispatch import enqueue_scheduled_run

    workflow = str(write_workflow(tmp_path))
    at = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.timezone.utc)
    first = enqueue_scheduled_run(workflow, dict(INPUTS), at, "celery-images")
    again = enqueue_scheduled_run(workflow, dict(INPUTS), at, "celery-images")
    later = enqueue_scheduled_run(
        workflow, dict(INPUTS), at + dt.timedelta(hours=1), "celery-images"
    )
    assert first == again != later
    assert first.startswith("20260301T060000Z-")
    assert rdb.llen("task-runner") == 2
    message = json.loads(rdb.lindex("task-runner", -1))
    assert message["headers"]["id"] == first


def test_scheduled_run_is_skipped_while_another_run_of_the_workflow_is_active(
    rdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from task_runner.distributed.lease import Lease
    from task_runner.distributed.worker import execute_run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TASK_RUNNER_STATE_DIR", str(tmp_path / "state"))
    workflow = str(write_workflow(tmp_path))
    busy = Lease(rdb, "active:celery-images", value="other-run|abc", ttl=30)
    assert busy.acquire()
    skipped = execute_run(
        workflow=workflow, inputs=INPUTS, run_id="r1", trigger="schedule",
        workflow_name="celery-images", exclusive=True, client=rdb,
    )  # fmt: skip
    assert skipped["status"] == "skipped"
    assert "other-run" in skipped["error"]
    assert busy.holder() == "other-run|abc"  # untouched

    with Emulator(images=5) as emulator:
        for key, value in emulator.env().items():
            monkeypatch.setenv(key, value)
        # A dead earlier delivery of the SAME run left its lease: the redelivery takes over.
        Lease(rdb, "active:celery-images", value="r2|dead", ttl=30).acquire(take_over="other-run|")
        done = execute_run(
            workflow=workflow, inputs=INPUTS, run_id="r2", trigger="schedule",
            workflow_name="celery-images", exclusive=True, client=rdb,
        )  # fmt: skip
    assert done["status"] == "succeeded", done
    assert done["run_id"] == "r2" and done["item_count"] == 5
    assert rdb.get("task-runner:lease:active:celery-images") is None  # released after the run


# --- the Redis stores -----------------------------------------------------------------------


def test_client_budget_is_one_window_for_all_stores(rdb: Any) -> None:
    from task_runner.distributed.budget import RedisBudgetStore
    from task_runner.model import RateLimit

    limit = RateLimit(3, 30.0)
    worker_a, worker_b = RedisBudgetStore(rdb, namespace="n"), RedisBudgetStore(rdb, namespace="n")
    other_app = RedisBudgetStore(rdb, namespace="other")
    assert [worker_a.reserve("procore", limit, 0), worker_b.reserve("procore", limit, 0)] == [0, 0]
    assert worker_a.reserve("procore", limit, 0) == 0
    wait = worker_b.reserve("procore", limit, 0)
    assert 29 < wait <= 30
    assert other_app.reserve("procore", limit, 0) == 0
    assert worker_a.sent_in_window("procore", 30) == 3


def test_server_budget_counts_down_across_stores(rdb: Any) -> None:
    from task_runner.distributed.budget import RedisBudgetStore

    now = time.time()
    worker_a, worker_b = RedisBudgetStore(rdb, namespace="n"), RedisBudgetStore(rdb, namespace="n")
    assert worker_a.take_server("procore", now) == 0  # nothing known yet: go
    worker_a.observe_server("procore", 2, now + 50)
    worker_b.observe_server("procore", 5, now + 50)  # a late answer cannot raise the count
    assert worker_b.server_remaining("procore") == 2
    assert worker_b.take_server("procore", now) == 0
    assert worker_a.take_server("procore", now) == 0
    assert worker_b.take_server("procore", now) == pytest.approx(50, abs=0.01)
    worker_a.observe_server("procore", 100, now + 3650)  # a new window
    assert worker_b.take_server("procore", now) == 0
    assert worker_b.take_server("procore", now + 3651) == 0  # past the reset: forgotten
    assert worker_b.server_remaining("procore") is None


def test_token_cache_and_lock_are_shared(rdb: Any) -> None:
    from task_runner.distributed.tokens import RedisLocks, RedisTokenCache, RedisTokenStore
    from task_runner.errors import AuthError
    from task_runner.http.tokens import AccessToken, StoredTokens
    from task_runner.redact import REDACTOR

    one, two = RedisTokenCache(rdb), RedisTokenCache(rdb)
    one.set("k", AccessToken("tok-shared-123", time.time() + 60))
    got = two.get("k")
    assert got is not None and got.value == "tok-shared-123"
    assert REDACTOR.redact("tok-shared-123") != "tok-shared-123"
    assert 0 < rdb.pttl("task-runner:tokens:access:k") <= 60_000
    one.set("stale", AccessToken("old", time.time() - 1))
    assert two.get("stale") is None
    two.delete("k")
    assert one.get("k") is None

    order: list[str] = []
    held = threading.Event()
    locks_a, locks_b = RedisLocks(rdb), RedisLocks(rdb, wait=5)

    def other() -> None:
        held.wait()
        with locks_b("refresh"):
            order.append("b")

    thread = threading.Thread(target=other)
    thread.start()
    with locks_a("refresh"):
        held.set()
        time.sleep(0.3)
        order.append("a")
    thread.join()
    assert order == ["a", "b"]
    with RedisLocks(rdb)("busy"), pytest.raises(AuthError, match="held the token lock"):
        with RedisLocks(rdb, wait=0.2)("busy"):
            pass

    store = RedisTokenStore(rdb, "app")
    with store.lock():
        store.save(StoredTokens(refresh_token="rt-1", access_token="at-1", refresh_at=5.0))
    loaded = RedisTokenStore(rdb, "app").load()
    assert loaded is not None and loaded.refresh_token == "rt-1" and loaded.refresh_at == 5.0


def test_lease_is_exclusive_renewed_and_expires(rdb: Any) -> None:
    from task_runner.distributed.lease import Lease

    mine = Lease(rdb, "x", value="run-1|a", ttl=0.6)
    theirs = Lease(rdb, "x", value="run-2|b", ttl=0.6)
    assert mine.acquire()
    assert not theirs.acquire()
    assert not theirs.acquire(take_over="run-3|")
    with mine.renewing():
        time.sleep(1.0)  # longer than the TTL: only renewal keeps it
        assert mine.holder() == "run-1|a"
    assert mine.holder() is None  # released
    assert mine.acquire()
    time.sleep(0.8)  # not renewed: expires like a dead worker's lease
    assert theirs.acquire()
    redelivered = Lease(rdb, "x", value="run-2|c", ttl=5)
    assert redelivered.acquire(take_over="run-2|")
    assert not mine.renew()


def _url(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/0"


def test_worker_log_filter_redacts_the_traceback_too() -> None:
    import io
    import logging

    from task_runner.redact import REDACTOR, RedactingLogFilter

    secret = "worker-log-secret-4711"
    REDACTOR.add(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingLogFilter())
    logger = logging.getLogger("tests.celery.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"token {secret} rejected")
        except ValueError:
            logger.exception("run failed: %s", secret)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" in text and "ValueError: token *** rejected" in text
    assert secret not in text


def test_a_bad_token_store_setting_is_an_error_payload_not_a_crash(
    rdb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from task_runner.distributed.worker import execute_run

    monkeypatch.setenv("TASK_RUNNER_TOKEN_STORE", "bogus")
    result = execute_run(
        workflow=str(write_workflow(tmp_path)), inputs=INPUTS, run_id="r-bad-store", client=rdb
    )
    assert result["status"] == "error" and result["exit_code"] == 2
    assert "TASK_RUNNER_TOKEN_STORE='bogus'" in result["message"]
