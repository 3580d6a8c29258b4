"""A canary secret through every command, on success and failure paths.

The canary reaches workflows three ways: ``secrets.CANARY`` as a connection header
(sent on every request: a success path), ``secrets.CANARY`` as a bearer token the
emulator refuses (401: a failure path), and as a wrong ``PROCORE_CLIENT_SECRET`` (the
token endpoint refuses it). Every command runs as a real subprocess with debug logging;
afterwards the canary must not appear in any stdout, stderr, or any file the commands
left behind: recordings, HAR files, JSONL outputs, the state database (WAL included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from task_runner.emulator import Emulator
from tests.support import oauth2_client_credentials, procore_connection_yaml, procore_workflow_yaml

CANARY = "canary-7Qx9-s3cr3t-d41e"
WRONG_SECRET = "canary-wrong-client-secret-5b2f"
CANARIES = (CANARY, WRONG_SECRET)
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]

CANARY_HEADER = {"X-Canary": "{{ secrets.CANARY }}"}
OAUTH = oauth2_client_credentials()
BEARER = {"type": "bearer", "token": "{{ secrets.CANARY }}"}
TASKS = """\
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      per_page: 10
    paginate: 2
    retry: {max_attempts: 2, initial_interval: 0.01s, max_interval: 0.05s}
    output:
      jsonl: "out/{{ run.workflow }}/{{ run.id }}/images.jsonl"
"""


def workflow(name: str, auth: dict[str, str]) -> str:
    connections = procore_connection_yaml(auth=auth, headers=CANARY_HEADER)
    return procore_workflow_yaml(name, TASKS, connections=connections)


class Session:
    """Runs commands in one working directory and keeps everything they printed."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.outputs: list[tuple[list[str], str, str]] = []

    def has(self, command: str) -> bool:
        probe = self.call([command, "--help"], record=False)
        return probe.returncode == 0

    def call(
        self, args: list[str], *, env: dict[str, str] | None = None, record: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "task_runner", "-vv", *args],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if record:
            self.outputs.append((args, done.stdout, done.stderr))
        return done


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=5, images=25) as em:
        yield em


@pytest.fixture(scope="module")
def session(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Session:
    cwd = tmp_path_factory.mktemp("canary")
    (cwd / "ok.yaml").write_text(workflow("canary-ok", OAUTH))
    (cwd / "bearer.yaml").write_text(workflow("canary-bearer", BEARER))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROCORE_", "TASK_RUNNER_"))}
    env.update(emulator.env())
    env["CANARY"] = CANARY
    env["TASK_RUNNER_STATE_DIR"] = str(cwd / ".task-runner")
    return Session(cwd, env)


def assert_clean(session: Session) -> None:
    for args, stdout, stderr in session.outputs:
        for canary in CANARIES:
            assert canary not in stdout, (args, stdout)
            assert canary not in stderr, (args, stderr)
    for path in session.cwd.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            data = path.read_bytes()
            for canary in CANARIES:
                assert canary.encode() not in data, path


def test_validate_and_dry_run(session: Session) -> None:
    assert session.call(["validate", "ok.yaml", "bearer.yaml"]).returncode == 0
    dry = session.call(["test-request", "ok.yaml", "--task", "list_images", "--dry-run", *INPUTS])
    assert dry.returncode == 0, dry.stderr
    assert "X-Canary" in dry.stdout  # the header is shown, its value is not
    dry_json = session.call(
        [
            "test-request",
            "ok.yaml",
            "--task",
            "list_images",
            "--dry-run",
            "--output",
            "json",
            *INPUTS,
        ]
    )
    assert dry_json.returncode == 0, dry_json.stderr
    assert_clean(session)


def test_test_request_with_har_success_and_failures(session: Session) -> None:
    if not session.has("test-request"):
        pytest.skip("test-request command not available")
    ok = session.call(
        ["test-request", "ok.yaml", "--task", "list_images", "--har", "ok.har", *INPUTS]
    )
    assert ok.returncode == 0, ok.stderr
    assert (session.cwd / "ok.har").exists()
    refused = session.call(
        ["test-request", "bearer.yaml", "--task", "list_images", "--har", "bad.har", *INPUTS]
    )
    assert refused.returncode == 1
    wrong = session.call(
        ["test-request", "ok.yaml", "--task", "list_images", *INPUTS],
        env={"PROCORE_CLIENT_SECRET": WRONG_SECRET},
    )
    assert wrong.returncode == 1
    assert_clean(session)


def test_run_success_and_failures(session: Session) -> None:
    ok = session.call(["run", "ok.yaml", *INPUTS])
    assert ok.returncode == 0, ok.stderr
    ok_json = session.call(["run", "ok.yaml", "--output", "json", *INPUTS])
    assert ok_json.returncode == 0 and json.loads(ok_json.stdout)["status"] == "succeeded"
    assert list(session.cwd.glob("out/canary-ok/*/images.jsonl"))
    refused = session.call(["run", "bearer.yaml", "--output", "json", *INPUTS])
    assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == "failed"
    assert session.call(["run", "bearer.yaml", *INPUTS]).returncode == 1
    wrong = session.call(
        ["run", "ok.yaml", "--output", "json", *INPUTS], env={"PROCORE_CLIENT_SECRET": WRONG_SECRET}
    )
    assert wrong.returncode == 1
    assert_clean(session)


def test_history_and_recordings(session: Session) -> None:
    session.call(["run", "bearer.yaml", *INPUTS])  # a failed run in the history
    session.call(["test-request", "ok.yaml", "--task", "list_images", *INPUTS])
    if session.has("runs"):
        runs = session.call(["runs", "list", "--output", "json"])
        assert runs.returncode == 0, runs.stderr
        for run in json.loads(runs.stdout):
            assert session.call(["runs", "show", str(run["id"])]).returncode == 0
        assert session.call(["runs", "list"]).returncode == 0
        state = list((session.cwd / ".task-runner").glob("state.db*"))
        assert state, "run history was not written"
    if session.has("recordings"):
        recordings = sorted(session.cwd.rglob("recordings/**/*.json"))
        assert recordings, "test-request left no recording"
        for recording in recordings:
            shown = session.call(["recordings", "show", str(recording)])
            assert shown.returncode == 0, shown.stderr
            har = session.call(["recordings", "har", str(recording)])
            assert har.returncode == 0, har.stderr
        assert session.call(["recordings", "list"]).returncode == 0
    assert_clean(session)


def test_apis_and_emulator_error_paths(session: Session) -> None:
    assert session.call(["apis", "show", "procore.images.list"]).returncode == 0
    assert session.call(["apis", "show", "procore.no.such"]).returncode == 2
    bad = session.call(
        ["emulator", "--port", "0", "--faults", "nonsense@@"],
        env={"PROCORE_CLIENT_SECRET": WRONG_SECRET},
    )
    assert bad.returncode == 2
    assert session.call(["validate", "missing.yaml"]).returncode == 2
    assert_clean(session)


#: What templates can make of a secret; masking matches text exactly, so each of these
#: must be registered as a secret in its own right when it is rendered.
DERIVED_HEADERS = {
    "X-Upper": "{{ secrets.CANARY | upper }}",
    "X-Reversed": "{{ secrets.CANARY | reverse }}",
    "X-Spaced": "{{ secrets.CANARY | list | join(' ') }}",
    "X-Replaced": "{{ secrets.CANARY | replace('-', '') }}",
    "X-Tail": "v={{ secrets.CANARY[5:] }}",
}
DERIVED = (
    CANARY.upper(),
    CANARY[::-1],
    " ".join(CANARY),
    CANARY.replace("-", ""),
    CANARY[5:],
)


def test_values_computed_from_a_secret_are_masked_too(session: Session) -> None:
    connections = procore_connection_yaml(auth=OAUTH, headers=DERIVED_HEADERS)
    (session.cwd / "derived.yaml").write_text(
        procore_workflow_yaml("canary-derived", TASKS, connections=connections)
    )
    task = ["test-request", "derived.yaml", "--task", "list_images", *INPUTS]
    calls = [
        [*task, "--dry-run"],
        [*task, "--dry-run", "--output", "json"],
        [*task, "--har", "derived.har", "--output", "json"],
        ["run", "derived.yaml", "--output", "json", *INPUTS],
    ]
    for args in calls:
        done = session.call(args)
        assert done.returncode == 0, (args, done.stderr)
        if args[0] == "test-request":
            assert "X-Upper" in done.stdout  # the header is shown, its value masked
    for args, stdout, stderr in session.outputs:
        for derived in DERIVED:
            assert derived not in stdout, (args, derived)
            assert derived not in stderr, (args, derived)
    for path in session.cwd.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            data = path.read_bytes()
            for derived in DERIVED:
                assert derived.encode() not in data, (path, derived)
