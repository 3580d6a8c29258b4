"""A cancel reaches the send path's waits: :class:`CancellableClock`, and ``test-request``
stopped by Ctrl-C/SIGTERM while it waits out a ``Retry-After`` (the studio's Cancel is in
test_studio.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from task_runner.emulator import Emulator
from task_runner.errors import Interrupted
from task_runner.http.clock import CancellableClock, FakeClock, SystemClock
from tests.test_run_signals import WORKFLOW


def test_a_cancel_stops_the_next_wait_before_it_starts() -> None:
    cancel = threading.Event()
    fake = FakeClock()
    clock = CancellableClock(fake, cancel)
    clock.sleep(5)
    assert fake.sleeps == [5] and clock.time() == fake.time()
    cancel.set()
    with pytest.raises(Interrupted, match=r"stopped during a wait of 5\.0s"):
        clock.sleep(5)
    assert fake.sleeps == [5]  # the second wait never began


def test_a_cancel_wakes_a_real_wait() -> None:
    cancel = threading.Event()
    clock = CancellableClock(SystemClock(), cancel)
    clock.sleep(0.01)  # not cancelled: an ordinary wait
    threading.Timer(0.1, cancel.set).start()
    with pytest.raises(Interrupted):
        clock.sleep(3600)  # ends when the timer sets the event, by raising


def image_requests(emulator: Emulator) -> int:
    return len([r for r in emulator.request_log if r.path == "/rest/v1.0/images"])


def signal_during_retry_wait(
    tmp_path: Path, command: list[str], sig: signal.Signals
) -> tuple[int, int, str]:
    """Run ``task-runner COMMAND wf.yaml`` against an emulator whose first listing answers
    429 with ``Retry-After: 30``, send ``sig`` once the client waits; (exit code, listing
    requests sent, stderr)."""
    with Emulator(faults="429:retry-after=30@1") as em:
        path = tmp_path / "wf.yaml"
        path.write_text(
            WORKFLOW.format(
                base_url=em.base_url,
                token_url=em.token_url,
                client_id=em.client_id,
                client_secret=em.client_secret,
                out=tmp_path / "images.jsonl",
            )
        )
        child = subprocess.Popen(
            [sys.executable, "-m", "task_runner", command[0], str(path), *command[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        deadline = time.monotonic() + 30
        while image_requests(em) < 1:
            if time.monotonic() > deadline:
                child.kill()
                pytest.fail(f"{command[0]} never sent its request")
            time.sleep(0.02)
        time.sleep(0.3)  # the 429 is in; the client is waiting its 30 s
        child.send_signal(sig)
        # far less than the 30 s wait: the signal ended it instead of waiting it out
        _stdout, stderr = child.communicate(timeout=15)
        return child.returncode, image_requests(em), stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_test_request_stops_a_retry_after_wait_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    command = ["test-request", "--task", "list_images", "--record-dir", str(tmp_path / "rec")]
    code, sent, stderr = signal_during_retry_wait(tmp_path, command, sig)
    assert code == 130, stderr
    assert sent == 1  # the retry was never sent
    assert "Traceback" not in stderr
    assert "stopped during a wait of 30.0s" in stderr
    assert list((tmp_path / "rec").rglob("*.json"))  # the 429 is recorded


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_stops_a_retry_after_wait_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """`run` builds its clients through the shared factory: its waits end on a signal too."""
    command = ["run", "--state-dir", str(tmp_path / "state")]
    code, sent, stderr = signal_during_retry_wait(tmp_path, command, sig)
    assert code == 130, stderr
    assert sent == 1  # the retry was never sent
    assert "Traceback" not in stderr
    assert not (tmp_path / "images.jsonl").exists()  # nothing half-published
