"""One job: start a throwaway Redis and Celery workers on this machine (tests, benchmarks).

* :class:`RedisServer`: ``redis-server`` on a free loopback port, no persistence;
* :class:`WorkerProcess`: ``python -m celery -A task_runner.celery_app worker`` as a
  subprocess in its own process group, so :meth:`WorkerProcess.kill` takes the pool's
  children down with it (a machine dying mid-run).

Example::

    with RedisServer() as redis_server:
        env = {**os.environ, "TASK_RUNNER_BROKER_URL": redis_server.url}
        with WorkerProcess(env, pool="threads", concurrency=2, log=Path("w1.log")):
            ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

__all__ = ["RedisServer", "WorkerProcess", "free_port"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1; :attr:`url` once started."""

    def __init__(self, executable: str | None = None, startup_timeout: float = 10.0) -> None:
        self.executable = executable or shutil.which("redis-server")
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        if self.executable is None:
            raise FileNotFoundError("redis-server is not installed")
        import redis

        for _ in range(3):  # the free port can be taken between the check and the bind
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    self.executable,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                with contextlib.suppress(redis.RedisError):
                    if redis.Redis(port=self.port, socket_timeout=1).ping():
                        return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WorkerProcess:
    """One Celery worker; ``env`` must carry ``TASK_RUNNER_BROKER_URL``."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        log: Path,
        pool: str = "threads",
        concurrency: int = 1,
        queue: str | None = None,
        cwd: Path | None = None,
        name: str = "worker",
        startup_timeout: float = 30.0,
    ) -> None:
        self.env = dict(env)
        self.log = log
        self.pool = pool
        self.concurrency = concurrency
        self.queue = queue or self.env.get("TASK_RUNNER_QUEUE") or "task-runner"
        self.cwd = cwd
        self.name = name
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "task_runner.celery_app", "worker",
            f"--pool={self.pool}", "-c", str(self.concurrency), "-Q", self.queue,
            "-n", f"{self.name}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel=INFO",
        ]  # fmt: skip

    def start(self, wait: bool = True) -> WorkerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(),
            env=self.env,
            cwd=self.cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches pool children
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Block until the worker logs ``ready.`` (it consumes from then on)."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"celery worker {self.name} did not start:\n{self.output()[-3000:]}")

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def succeeded(self) -> int:
        """How many runs this worker finished (from its log)."""
        return self.output().count("succeeded in")

    def kill(self) -> None:
        """SIGKILL the whole worker (and its pool): no ack, no cleanup, like a lost machine."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def stop(self, timeout: float = 10.0) -> None:
        """Warm shutdown (SIGTERM: finish the current runs), then SIGKILL after ``timeout``."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
