"""Fixtures for the Celery tests: a private redis-server, real workers, a test workflow.

Without ``redis-server`` the tests are skipped, unless env ``TASK_RUNNER_REQUIRE_REDIS=1``
(CI), where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from task_runner.distributed.local import RedisServer, WorkerProcess

#: Redelivery and lease timings short enough for a test (a run lasts a few seconds).
VISIBILITY_TIMEOUT = "3"
LEASE_TTL = "2"

WORKFLOW = """\
name: celery-images
inputs:
  company_id: {{type: integer}}
  project_id: {{type: integer}}
connections:
  procore:
    api: procore
    base_url: "{{{{ env.PROCORE_BASE_URL }}}}"
    auth:
      type: oauth2_client_credentials
      token_url: "{{{{ env.PROCORE_TOKEN_URL }}}}"
      client_id: "{{{{ secrets.PROCORE_CLIENT_ID }}}}"
      client_secret: "{{{{ secrets.PROCORE_CLIENT_SECRET }}}}"
{rate_limit}
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{{{ inputs.company_id }}}}"
      project_id: "{{{{ inputs.project_id }}}}"
      per_page: {per_page}
    paginate: all
    output:
      jsonl: "out/{{{{ run.workflow }}}}/{{{{ run.id }}}}/images.jsonl"
"""

INPUTS = {"company_id": 8089, "project_id": 777}
INPUT_ARGS = ["-i", "company_id=8089", "-i", "project_id=777"]


def write_workflow(
    folder: Path, *, per_page: int = 25, rate_limit: tuple[int, str] | None = None
) -> Path:
    limit = ""
    if rate_limit is not None:
        limit = f"    rate_limit: {{requests: {rate_limit[0]}, per: {rate_limit[1]}}}"
    path = folder / "workflow.yaml"
    path.write_text(WORKFLOW.format(per_page=per_page, rate_limit=limit), encoding="utf-8")
    return path


def start_redis() -> RedisServer:
    """A private redis-server, or skip (fail under TASK_RUNNER_REQUIRE_REDIS=1)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("TASK_RUNNER_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed but TASK_RUNNER_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed")
    return RedisServer().start()


def point_app_at(url: str) -> None:
    """Make this process's Celery app (a submitter) use the test Redis."""
    os.environ["TASK_RUNNER_BROKER_URL"] = url
    os.environ.pop("TASK_RUNNER_RESULT_BACKEND", None)
    os.environ.pop("TASK_RUNNER_REDIS_URL", None)
    from task_runner.celery_app import use_broker

    use_broker(url)


class Cluster:
    """Workers and CLI runs sharing one Redis, one emulator and one working directory."""

    def __init__(self, root: Path, redis_url: str, emulator_env: dict[str, str]) -> None:
        self.root = root
        self.env = {
            **os.environ,
            **emulator_env,
            "TASK_RUNNER_BROKER_URL": redis_url,
            "TASK_RUNNER_STATE_DIR": str(root / "state"),
            "TASK_RUNNER_VISIBILITY_TIMEOUT": VISIBILITY_TIMEOUT,
            "TASK_RUNNER_LEASE_TTL": LEASE_TTL,
        }
        self.workers: list[WorkerProcess] = []

    def worker(self, *, pool: str = "threads", concurrency: int = 1) -> WorkerProcess:
        name = f"w{len(self.workers) + 1}"
        worker = WorkerProcess(
            self.env,
            log=self.root / f"{name}.log",
            pool=pool,
            concurrency=concurrency,
            cwd=self.root,
            name=name,
        )
        self.workers.append(worker)
        return worker.start()

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "task_runner", *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")
