"""End to end against the built-in Procore emulator: the fault matrix, auth, rate limits.

Each fault case either yields every image exactly once or fails with a PaginationError
naming the task and page, and never leaves a partial output file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from task_runner.emulator import Emulator
from task_runner.errors import PaginationError
from task_runner.http import Client, FakeClock, FileTokenStore, JsonlSink, drain
from task_runner.model import (
    AuthConfig,
    ConnectionConfig,
    Expect,
    Pagination,
    PreparedRequest,
    RetryPolicy,
    Timeout,
)

POLICY = RetryPolicy(max_attempts=4, initial_interval=1.0, jitter=False, max_wait=120)
TIMEOUT = Timeout(connect=2.0, read=0.5)


def _connection(em: Emulator, auth: AuthConfig | None = None) -> ConnectionConfig:
    auth = auth or AuthConfig(
        type="oauth2_client_credentials",
        token_url=em.token_url,
        client_id=em.client_id,
        client_secret=em.client_secret,
    )
    return ConnectionConfig(
        name="procore",
        base_url=em.base_url,
        auth=auth,
        headers={"Procore-Company-Id": str(em.company_id)},
    )


def _request(em: Emulator, per_page: int = 25) -> PreparedRequest:
    query = (("project_id", str(em.project_id)), ("per_page", str(per_page)))
    return PreparedRequest(
        "GET", em.base_url + "/rest/v1.0/images", query=query, task="list_images"
    )


def _run(
    em: Emulator,
    clock: FakeClock,
    target: Path,
    *,
    expect: Expect | None = None,
    **client_kw: object,
):
    with Client(_connection(em), clock=clock, **client_kw) as client, JsonlSink(target) as sink:  # type: ignore[arg-type]
        pages = client.fetch(
            _request(em),
            retry=POLICY,
            timeout=TIMEOUT,
            expect=expect or Expect(),
            pagination=Pagination(mode="all", max_concurrency=4),
        )
        return drain(pages, sink)


def _ids(path: Path) -> list[int]:
    import json

    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


SUCCEED = {
    "429-retry-after": "429:retry-after=2@3",
    "429-reset-only": "429:reset=5@4",
    "502": "502@2",
    "503-retry-after": "503:retry-after=1@3",
    "503-retry-after-date": "503:retry-after-date=3@5",
    "504": "504@6",
    "reset": "reset@2-3",
    "read-timeout": "slow:delay=1@4",
    "truncated": "truncate@5",
    "invalid-json": "invalid-json@3",
    "token-expiry": "expire-token@5",
    "mixed": "503:retry-after=1@2;reset@4;truncate@7;429:retry-after=1@9",
}


@pytest.mark.parametrize("faults", list(SUCCEED.values()), ids=list(SUCCEED))
@pytest.mark.parametrize("headers", ["both", "next-only"])
def test_fault_recovered_every_image_once(faults: str, headers: str, tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    target = tmp_path / "images.jsonl"
    with Emulator(images=250, faults=faults, pagination_headers=headers, clock=clock.time) as em:
        result = _run(em, clock, target)
        expected = [image["id"] for image in em.images_for()]
        reauthed = em.stats.token_grants["client_credentials"] > 1
    assert sorted(_ids(target)) == sorted(expected)
    assert _ids(target) == expected  # in page order, too
    assert result.page_count == 10 and result.item_count == 250
    # the fault was met: a retried attempt, or a new token after the 401
    assert any(a.number > 1 for a in result.attempts) or reauthed


FAIL = {
    "500": ("500@3", r"page \d+ failed: .*answered 500"),
    "redirect-other-host": ("redirect@3", r"page \d+ failed: .*another host, localhost"),
    "oversize": ("oversize:bytes=300000@4", r"page \d+ failed: .*max_body_bytes cap of 200000"),
    "503-forever": ("503:retry-after=1@2-", r"page \d+ failed: .*answered 503"),
    "429-too-long": (
        "429:retry-after=3600@3",
        r"page \d+ failed: .*longer than the retry policy's max_wait",
    ),
}


@pytest.mark.parametrize("case", list(FAIL.values()), ids=list(FAIL))
def test_fault_fails_naming_task_and_page_without_partial_file(
    case: tuple[str, str], tmp_path: Path
) -> None:
    faults, message = case
    clock = FakeClock(1_800_000_000.0)
    target = tmp_path / "images.jsonl"
    with Emulator(images=250, faults=faults, clock=clock.time) as em:
        with pytest.raises(PaginationError, match=message) as info:
            _run(em, clock, target, expect=Expect(max_body_bytes=200_000))
    assert info.value.task == "list_images" and info.value.page is not None
    assert str(info.value).startswith("list_images: page ")
    assert list(tmp_path.iterdir()) == []


def test_ids_only_view(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    with (
        Emulator(images=60, clock=clock.time) as em,
        Client(_connection(em), clock=clock) as client,
    ):
        request = _request(em).with_query(serializer_view="ids_only")
        result = drain(
            client.fetch(
                request,
                retry=POLICY,
                timeout=TIMEOUT,
                expect=Expect(),
                pagination=Pagination(mode="all"),
            )
        )
        assert result.items == [image["id"] for image in em.images_for()]


def test_spike_limit_is_respected(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    with Emulator(images=250, spike_limit=4, spike_window=10, clock=clock.time) as em:
        result = _run(em, clock, tmp_path / "x.jsonl")
        assert result.item_count == 250
        # Counted down from X-Rate-Limit-Remaining, so the first window never overshoots;
        # after a reset the budget is unknown until the next answer, so a few concurrent
        # requests may still meet a 429 (and are retried).
        assert em.stats.requests_by_status.get(429, 0) < 4
    assert clock.sleeps  # the client paused for the spike window


def test_refresh_token_grant_end_to_end(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    with Emulator(images=100, faults="expire-token@3", clock=clock.time) as em:
        store = FileTokenStore(tmp_path / "tokens.json")
        auth = AuthConfig(
            type="oauth2_refresh_token",
            token_url=em.token_url,
            client_id=em.client_id,
            client_secret=em.client_secret,
            refresh_token=em.issue_refresh_token(),
        )
        with Client(_connection(em, auth), clock=clock, token_store=store) as client:
            result = drain(
                client.fetch(
                    _request(em),
                    retry=POLICY,
                    timeout=TIMEOUT,
                    expect=Expect(),
                    pagination=Pagination(mode="all"),
                )
            )
        assert result.item_count == 100
        assert em.stats.token_grants["refresh_token"] >= 2
        stored = store.load()
        assert stored is not None and em.tokens.lookup(stored.access_token or "") is not None
