"""soak: 10,000 short scheduled runs in one process; is run 10,000 as fast as run 1?

One ``WorkflowScheduler`` (run history, slot claims, run leases, redaction scopes, the
shared token cache and rate budget: everything a ``schedule`` process does per run)
fires a windowed one-task workflow 10,000 times, each for the next minute, against the
Procore emulator in a process of its own (so its request log does not count here). The
emulator's tokens live 20 s (refreshed every 10 s), so the run spends many of them.

Figures: the median per-run CPU time of the process (``time.process_time``: all its
threads, not the emulator's) over the last 1,000 runs against the first 1,000 (goal
<= 1.10x). CPU rather than wall time: other processes on a shared machine change the
wall time of a few-minute run by more than 10% (the wall-time ratio is reported too);
the CPU ratio still moves by a few percent from one soak to the next on a busy machine; peak RSS growth from the end of the first 1,000 runs to the end (goal < 10%);
token requests against token lifetimes spent (goal: equal, +-1); the redactor's live
secret count at the end against after the first run. ``--quick``: 150 runs, 50 a side.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Result, write_file

NAME, UNIT, GOAL, LIMIT = "soak", "x", "<= 1.10x", 1.10
RSS_LIMIT = 0.10
TOKEN_TTL = 20  # s; the client refreshes at max(ttl - 60, ttl / 2) = 10 s

WORKFLOW = """\
name: soak
schedule: {cron: "0 0 1 1 *", timezone: UTC}
window: {initial_lookback: 1h, lag: 0s}
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
      Procore-Company-Id: 8089
      project_id: 777
      per_page: 5
      filters[updated_at]: "{{ run.window_start | iso_range(run.window_end) }}"
    paginate: 1
    retry: {max_attempts: 2}
"""


def _peak_rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class _TokenCounter(logging.Handler):
    """Counts the auth layer's "fetched a new access token" lines (one per token request)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "fetched a new access token" in record.getMessage():
            self.count += 1


def _start_emulator(port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "task_runner", "emulator", "--port", str(port)]
    argv += ["--images", "50", "--token-ttl", str(TOKEN_TTL), "--hourly-limit", "100000000"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the emulator did not start")


def run(quick: bool) -> Result:
    from task_runner.distributed.local import free_port
    from task_runner.emulator import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
    from task_runner.redact import REDACTOR
    from task_runner.scheduling.scheduler import SchedulerConfig, WorkflowScheduler

    runs, side = (150, 50) if quick else (10_000, 1_000)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PROCORE_BASE_URL": base,
        "PROCORE_TOKEN_URL": f"{base}/oauth/token",
        "PROCORE_CLIENT_ID": EMULATOR_CLIENT_ID,
        "PROCORE_CLIENT_SECRET": EMULATOR_CLIENT_SECRET,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    counter = _TokenCounter()
    http_log = logging.getLogger("task_runner.http")
    level = http_log.level
    http_log.addHandler(counter)
    http_log.setLevel(logging.INFO)
    emulator = _start_emulator(port)
    times: list[float] = []
    walls: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_file(Path(tmp) / "wf" / "soak.yaml", WORKFLOW)
            config = SchedulerConfig(paths=[str(path)], state_dir=str(Path(tmp) / "state"))
            scheduler = WorkflowScheduler(config)
            scheduler.start()
            key = str(path.resolve())
            first_slot = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
            first_slot -= dt.timedelta(minutes=runs + 1)
            started = time.monotonic()
            try:
                for number in range(runs):
                    began, cpu = time.perf_counter(), time.process_time()
                    scheduler._fire(key, first_slot + dt.timedelta(minutes=number))
                    times.append(time.process_time() - cpu)
                    walls.append(time.perf_counter() - began)
                    if number == 0:
                        secrets_after_first = REDACTOR.live_count()
                    if number == side - 1:
                        rss_warm = _peak_rss_kib()
                    if number == runs // 2:
                        rss_mid = _peak_rss_kib()
                elapsed = time.monotonic() - started
                rss_end = _peak_rss_kib()
                secrets_end = REDACTOR.live_count()
                failed = [
                    r for r in scheduler.history.list_runs(limit=runs) if r["status"] != "succeeded"
                ]
            finally:
                scheduler.shutdown(grace=5)
    finally:
        emulator.terminate()
        emulator.wait(10)
        http_log.removeHandler(counter)
        http_log.setLevel(level)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if failed:
        raise RuntimeError(f"{len(failed)} soak runs did not succeed: {failed[0].get('error')}")
    first, last = statistics.median(times[:side]), statistics.median(times[-side:])
    ratio = last / first
    wall_first, wall_last = statistics.median(walls[:side]), statistics.median(walls[-side:])
    growth = rss_end / rss_warm - 1 if rss_warm else 0.0
    refresh_every = max(TOKEN_TTL - 60, TOKEN_TTL / 2)
    lifetimes = int(elapsed // refresh_every) + 1
    tokens_ok = abs(counter.count - lifetimes) <= 1
    meets = None if quick else (ratio <= LIMIT and growth < RSS_LIMIT and tokens_ok)
    return Result(
        NAME,
        ratio,
        UNIT,
        first,
        GOAL,
        meets,
        measured=last,
        detail=f"{runs} runs in {elapsed:.0f}s: median CPU per run first {side} "
        f"{first * 1000:.1f} ms, last {side} {last * 1000:.1f} ms (wall {wall_first * 1000:.1f} "
        f"-> {wall_last * 1000:.1f} ms); peak RSS "
        f"{rss_warm / 1024:.1f} -> {rss_mid / 1024:.1f} (half-way) -> {rss_end / 1024:.1f} MiB "
        f"({growth:+.1%}); "
        f"{counter.count} token requests for {lifetimes} token lifetimes; "
        f"live secrets {secrets_after_first} -> {secrets_end}",
        extra={
            "runs": runs,
            "seconds": round(elapsed, 1),
            "first_ms": round(first * 1000, 2),
            "last_ms": round(last * 1000, 2),
            "wall_first_ms": round(wall_first * 1000, 2),
            "wall_last_ms": round(wall_last * 1000, 2),
            "rss_growth": round(growth, 4),
            "peak_rss_mib": [round(x / 1024, 1) for x in (rss_warm, rss_mid, rss_end)],
            "token_requests": counter.count,
            "token_lifetimes": lifetimes,
            "live_secrets": [secrets_after_first, secrets_end],
        },
    )
