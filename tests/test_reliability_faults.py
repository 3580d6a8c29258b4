"""The fault matrix: every way the API misbehaves, through the real ``execute`` path.

Each case runs a paginated images task against the emulator with one fault injected.
It either succeeds with every item exactly once (ids compared with the emulator's own
listing), or fails with an error naming the task and the page; either way no partial
JSONL file is left behind. Waits are instant: the client runs on a fake clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from task_runner.emulator import Emulator
from task_runner.http.client import Client
from task_runner.http.clock import FakeClock
from task_runner.model import ConnectionConfig
from task_runner.runner.executor import ExecutionOptions, execute
from task_runner.runner.result import RunResult
from task_runner.workflow import load_workflow
from tests.support import RecordingServer, procore_workflow_yaml

IMAGES = 30
PER_PAGE = 10  # three pages: the fault lands on page 2 or 3, after page 1 went well

TASKS = """\
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{{{ inputs.company_id }}}}"
      project_id: "{{{{ inputs.project_id }}}}"
      per_page: {per_page}
    paginate: all
    retry: {{max_attempts: 3, initial_interval: 0.01s, max_interval: 0.05s, max_wait: 5s}}
    timeout: {{connect: 2s, read: {read}}}
    expect: {{max_body_bytes: {cap}}}
    output:
      jsonl: "{out}"
"""


def workflow_text(out: Path, *, read: str = "2s", cap: int = 1_000_000) -> str:
    tasks = TASKS.format(per_page=PER_PAGE, read=read, cap=cap, out=out)
    return procore_workflow_yaml("fault-matrix", tasks)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=3, images=IMAGES) as em:
        yield em


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    rec = RecordingServer("127.0.0.2")  # another host than the emulator's 127.0.0.1
    yield rec
    rec.close()


def run_with_fault(
    em: Emulator, tmp_path: Path, faults: str, *, read: str = "2s", cap: int = 1_000_000
) -> tuple[RunResult, Path, FakeClock]:
    out = tmp_path / "out" / "images.jsonl"
    path = tmp_path / "wf.yaml"
    path.write_text(workflow_text(out, read=read, cap=cap))
    workflow = load_workflow(path)
    clock = FakeClock(start=time.time())  # Retry-After/X-Rate-Limit-Reset compare with now

    def client(connection: ConnectionConfig) -> Client:
        return Client(connection, clock=clock)

    em.set_faults(faults)
    result = execute(
        workflow,
        {"company_id": em.company_id, "project_id": em.project_id},
        options=ExecutionOptions(client_factory=client, environ=em.env()),
    )
    return result, out, clock


def ids_in(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def assert_every_item_once(em: Emulator, result: RunResult, out: Path) -> None:
    assert result.status == "succeeded", result.error
    expected = sorted(image["id"] for image in em.images_for(em.project_id))
    got = ids_in(out)
    assert sorted(got) == expected and len(set(got)) == len(got)
    assert result.tasks["list_images"].item_count == IMAGES


def assert_clear_failure(result: RunResult, out: Path, *words: str) -> None:
    assert result.status == "failed"
    error = result.tasks["list_images"].error or ""
    assert "list_images" in (result.error or "")
    assert "page" in error, error
    for word in words:
        assert word in error, error
    assert_no_partial_file(out)


def assert_no_partial_file(out: Path) -> None:
    assert not out.exists()
    leftovers = list(out.parent.iterdir()) if out.parent.exists() else []
    assert leftovers == [], leftovers


RECOVERABLE = [
    pytest.param("429:retry-after=1@2", id="429-retry-after"),
    pytest.param("429:reset=1@2", id="429-x-rate-limit-reset-only"),
    pytest.param("502@2", id="502"),
    pytest.param("503:retry-after=1@2", id="503-retry-after"),
    pytest.param("504@2", id="504"),
    pytest.param("reset@2", id="connection-reset"),
    pytest.param("truncate@2", id="truncated-body"),
]


@pytest.mark.parametrize("faults", RECOVERABLE)
def test_recoverable_fault_gives_every_item_exactly_once(
    emulator: Emulator, tmp_path: Path, faults: str
) -> None:
    result, out, _ = run_with_fault(emulator, tmp_path, faults)
    assert_every_item_once(emulator, result, out)
    assert len(result.tasks["list_images"].attempts) >= 4  # three pages, one retried


def test_token_expiry_mid_pagination_reauthenticates(emulator: Emulator, tmp_path: Path) -> None:
    result, out, _ = run_with_fault(emulator, tmp_path, "expire-token@2")
    assert_every_item_once(emulator, result, out)
    tokens = {r.token_id for r in emulator.request_log if r.path.endswith("/images") and r.token_id}
    assert len(tokens) == 2  # the expired token, then a fresh one; pages 2-3 not lost


def test_token_expiry_by_the_emulator_api(emulator: Emulator, tmp_path: Path) -> None:
    """expire_tokens() between the first page and the rest, via an observer."""
    from task_runner.runner.executor import TaskObserver

    class ExpireAfterFirstPage(TaskObserver):
        def page(self, task: str, prepared: Any, page: Any) -> None:
            if page.number == 1:
                emulator.expire_tokens()

    out = tmp_path / "out" / "images.jsonl"
    path = tmp_path / "wf.yaml"
    # one page at a time, so every page after the first is sent after the expiry
    path.write_text(
        workflow_text(out).replace("paginate: all", "paginate: {pages: all, max_concurrency: 1}")
    )
    result = execute(
        load_workflow(path),
        {"company_id": emulator.company_id, "project_id": emulator.project_id},
        options=ExecutionOptions(environ=emulator.env(), observers=[ExpireAfterFirstPage()]),
    )
    assert_every_item_once(emulator, result, out)
    assert any(r.status == 401 for r in emulator.request_log)


def test_server_wait_is_honoured_on_the_clock(emulator: Emulator, tmp_path: Path) -> None:
    result, out, clock = run_with_fault(emulator, tmp_path, "503:retry-after=1@2")
    assert_every_item_once(emulator, result, out)
    assert any(wait >= 0.9 for wait in clock.sleeps), clock.sleeps


def test_rate_limit_reset_alone_sets_the_wait(emulator: Emulator, tmp_path: Path) -> None:
    # reset=2: the header is whole Unix seconds, so the wait is always more than 1 s
    result, out, clock = run_with_fault(emulator, tmp_path, "429:reset=2@2")
    assert_every_item_once(emulator, result, out)
    assert any(wait > 0.05 for wait in clock.sleeps), clock.sleeps  # beyond the backoff


def test_read_timeout_is_retried(emulator: Emulator, tmp_path: Path) -> None:
    result, out, _ = run_with_fault(emulator, tmp_path, "slow:delay=1@2", read="0.3s")
    assert_every_item_once(emulator, result, out)


@pytest.mark.parametrize(
    ("faults", "words"),
    [
        pytest.param("500@2-", ("500",), id="500-persistent"),
        pytest.param("502@2-", ("502",), id="502-persistent"),
        pytest.param("reset@2-", (), id="reset-persistent"),
    ],
)
def test_persistent_fault_fails_naming_task_and_page(
    emulator: Emulator, tmp_path: Path, faults: str, words: tuple[str, ...]
) -> None:
    result, out, _ = run_with_fault(emulator, tmp_path, faults)
    assert_clear_failure(result, out, *words)


def test_500_is_not_retried_and_fails_naming_the_page(emulator: Emulator, tmp_path: Path) -> None:
    """500 is not in the default retry statuses (a server bug rarely heals in a second)."""
    result, out, _ = run_with_fault(emulator, tmp_path, "500@2")
    assert_clear_failure(result, out, "500")


def test_invalid_json_with_200_is_retried(emulator: Emulator, tmp_path: Path) -> None:
    result, out, _ = run_with_fault(emulator, tmp_path, "invalid-json@2")
    assert_every_item_once(emulator, result, out)


def test_invalid_json_every_time_fails_naming_the_page(emulator: Emulator, tmp_path: Path) -> None:
    result, out, _ = run_with_fault(emulator, tmp_path, "invalid-json@2-")
    assert_clear_failure(result, out)


def test_body_over_the_size_cap_fails_naming_the_page(emulator: Emulator, tmp_path: Path) -> None:
    result, out, _ = run_with_fault(emulator, tmp_path, "oversize:bytes=200000@2", cap=100_000)
    assert_clear_failure(result, out)


def test_redirect_to_another_host_never_carries_the_token(
    emulator: Emulator, tmp_path: Path, recorder: RecordingServer
) -> None:
    target = recorder.url + "/rest/v1.0/images"
    result, out, _ = run_with_fault(emulator, tmp_path, f"redirect:to={target}@2")
    assert recorder.headers == []  # refused: nothing at all went to the other host
    assert_clear_failure(result, out, "redirected", "127.0.0.2")


def test_redirect_to_an_allowed_host_is_followed_without_credentials(
    emulator: Emulator, tmp_path: Path, recorder: RecordingServer
) -> None:
    from dataclasses import replace

    out = tmp_path / "out" / "images.jsonl"
    path = tmp_path / "wf.yaml"
    path.write_text(workflow_text(out))
    emulator.set_faults(f"redirect:to={recorder.url}/rest/v1.0/images@1")

    def client(connection: ConnectionConfig) -> Client:
        allowed = replace(connection, allowed_hosts=frozenset({"127.0.0.2"}))
        return Client(allowed, clock=FakeClock(start=time.time()))

    result = execute(
        load_workflow(path),
        {"company_id": emulator.company_id, "project_id": emulator.project_id},
        options=ExecutionOptions(client_factory=client, environ=emulator.env()),
    )
    assert len(recorder.headers) == 1
    assert "authorization" not in recorder.headers[0] and "cookie" not in recorder.headers[0]
    assert result.status == "succeeded"  # the other host answered an empty listing


def test_a_redirect_to_an_allowed_host_does_not_carry_the_connections_own_headers(
    emulator: Emulator, tmp_path: Path, recorder: RecordingServer
) -> None:
    """Connection headers (a tenant id, Procore-Company-Id) go only to the connection's
    origin, on redirects as on next links; the task's own headers may follow."""
    from dataclasses import replace

    out = tmp_path / "out" / "images.jsonl"
    path = tmp_path / "wf.yaml"
    path.write_text(workflow_text(out))
    emulator.set_faults(f"redirect:to={recorder.url}/rest/v1.0/images@1")

    def client(connection: ConnectionConfig) -> Client:
        allowed = replace(
            connection,
            allowed_hosts=frozenset({"127.0.0.2"}),
            headers={**connection.headers, "X-Tenant": "acme-7"},
        )
        return Client(allowed, clock=FakeClock(start=time.time()))

    result = execute(
        load_workflow(path),
        {"company_id": emulator.company_id, "project_id": emulator.project_id},
        options=ExecutionOptions(client_factory=client, environ=emulator.env()),
    )
    assert result.status == "succeeded"
    assert len(recorder.headers) == 1
    assert "x-tenant" not in recorder.headers[0]
    assert "authorization" not in recorder.headers[0]
