"""One job: measure how run throughput grows with Celery workers (latency-bound runs).

Starts a private ``redis-server``, the Procore emulator with a per-request latency, and
``n`` worker processes (one run at a time each), submits the same batch of runs for each
``n`` and reports runs per second and the speedup over one worker. The goal for
latency-bound workflows is a speedup of at least 1.8 with 2 workers.

Example::

    from task_runner.distributed.bench import measure_scaling
    report = measure_scaling(runs=8, latency=0.5, pages=5, workers=(1, 2))
    print(report["speedup"])      # throughput(2 workers) / throughput(1 worker)

or ``python -m task_runner.distributed.bench [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from task_runner.distributed.local import RedisServer, WorkerProcess

__all__ = ["measure_scaling"]

PER_PAGE = 10

_WORKFLOW = """\
name: bench-latency-bound
inputs:
  company_id: {type: integer}
  project_id: {type: integer}
connections:
  procore:
    api: procore
    base_url: "{{ env.PROCORE_BASE_URL }}"
    auth:
      type: oauth2_client_credentials
      token_url: "{{ env.PROCORE_TOKEN_URL }}"
      client_id: "{{ secrets.PROCORE_CLIENT_ID }}"
      client_secret: "{{ secrets.PROCORE_CLIENT_SECRET }}"
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      per_page: PER_PAGE
    paginate: all
""".replace("PER_PAGE", str(PER_PAGE))


def measure_scaling(
    *,
    runs: int = 8,
    latency: float = 0.5,
    pages: int = 5,
    workers: Sequence[int] = (1, 2),
    root: Path | None = None,
) -> dict[str, Any]:
    """Runs per second for each worker count, and ``speedup`` of the last over the first."""
    from task_runner.emulator import MAIN_COMPANY_ID, MAIN_PROJECT_ID, Emulator

    inputs = {"company_id": MAIN_COMPANY_ID, "project_id": MAIN_PROJECT_ID}
    with tempfile.TemporaryDirectory(prefix="task-runner-bench-") as scratch:
        folder = Path(root or scratch)
        workflow = folder / "bench.yaml"
        workflow.write_text(_WORKFLOW, encoding="utf-8")
        with (
            RedisServer() as redis_server,
            Emulator(images=pages * PER_PAGE, latency=latency) as emulator,
        ):
            _use_broker(redis_server.url)
            env = {
                **os.environ,
                **emulator.env(),
                "TASK_RUNNER_BROKER_URL": redis_server.url,
                "TASK_RUNNER_STATE_DIR": str(folder / "state"),
            }
            throughput = {n: _batch(n, env, folder, workflow, inputs, runs) for n in workers}
    first, last = throughput[workers[0]], throughput[workers[-1]]
    return {
        "runs": runs,
        "latency": latency,
        "pages": pages,
        "runs_per_second": throughput,
        "speedup": last / first if first else 0.0,
    }


def _batch(
    count: int, env: dict[str, str], folder: Path, workflow: Path, inputs: dict[str, Any], runs: int
) -> float:
    """Start ``count`` workers, time ``runs`` runs from submit to the last result (after
    one untimed warm-up run per worker)."""
    from task_runner.distributed.dispatch import submit, wait_for

    started = [
        WorkerProcess(env, log=folder / f"bench-{count}-{i}.log", cwd=folder, name=f"b{count}-{i}")
        for i in range(count)
    ]
    try:
        for worker in started:
            worker.start(wait=False)
        for worker in started:
            worker.wait_ready()
        # Warm-up, untimed: imports, catalogue and the first token are paid once per worker.
        for run_id in [submit(workflow, inputs) for _ in range(count)]:
            wait_for(run_id, timeout=600)
        begin = time.perf_counter()
        ids = [submit(workflow, inputs) for _ in range(runs)]
        results = [wait_for(run_id, timeout=600) for run_id in ids]
        elapsed = time.perf_counter() - begin
    finally:
        for worker in started:
            worker.stop()
    failed = [r for r in results if r.get("status") != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} benchmark run(s) failed: {failed[0].get('error')}")
    return runs / elapsed


def _use_broker(url: str) -> None:
    """Point this process's Celery app (the submitter) at ``url``."""
    os.environ["TASK_RUNNER_BROKER_URL"] = url
    from task_runner.celery_app import use_broker

    use_broker(url)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    args = parser.parse_args(argv)
    report = measure_scaling(runs=4, latency=0.3, pages=3) if args.quick else measure_scaling()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
