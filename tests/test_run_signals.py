"""`task-runner run` stopped by SIGTERM/SIGINT: recorded as interrupted, exit 130, no partial file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from task_runner.emulator import Emulator

WORKFLOW = """\
name: slow-export
connections:
  procore:
    api: procore
    base_url: "{base_url}"
    auth:
      type: oauth2_client_credentials
      token_url: "{token_url}"
      client_id: "{client_id}"
      client_secret: "{client_secret}"
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: 8089
      project_id: 777
      per_page: 10
    paginate: {{pages: all, max_concurrency: 1}}
    output:
      jsonl: "{out}"
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_interrupts_the_run_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "images.jsonl"
    state = tmp_path / "state"
    with Emulator(images=200, latency=0.2) as em:
        path = tmp_path / "wf.yaml"
        path.write_text(
            WORKFLOW.format(
                base_url=em.base_url,
                token_url=em.token_url,
                client_id=em.client_id,
                client_secret=em.client_secret,
                out=out,
            )
        )
        command = [sys.executable, "-m", "task_runner", "run", str(path), "--output", "json"]
        child = subprocess.Popen(
            [*command, "--state-dir", str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TASK_RUNNER_STATE_DIR": str(state)},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pages = [r for r in em.request_log if r.path == "/rest/v1.0/images"]
            if len(pages) >= 2:
                break
            time.sleep(0.05)
        else:
            child.kill()
            pytest.fail("the run never started paging")
        child.send_signal(sig)
        stdout, stderr = child.communicate(timeout=30)
        sent = len([r for r in em.request_log if r.path == "/rest/v1.0/images"])
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    result = json.loads(stdout)
    assert result["status"] == "interrupted"
    assert result["tasks"]["list_images"]["status"] == "interrupted"
    assert sent < 20  # it stopped early instead of pulling all 20 pages
    assert not out.exists()
    assert not list(tmp_path.glob(".images.jsonl.*"))  # no temp file left behind
    runs = subprocess.run(
        [
            sys.executable,
            "-m",
            "task_runner",
            "runs",
            "list",
            "--state-dir",
            str(state),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    [row] = json.loads(runs.stdout)
    assert row["status"] == "interrupted" and row["id"] == result["run_id"]
