"""An API's conventions come from its profile and definitions, in one order of
precedence (task, operation, profile, defaults), not from code that names the API."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from task_runner.catalogue.profile import ApiProfile
from task_runner.http.clock import FakeClock
from task_runner.http.retry import server_wait
from task_runner.http.throttle import InMemoryBudgetStore, Throttle
from task_runner.model import Pagination, RateLimitHeaders, RetryPolicy
from task_runner.workflow.conventions import rate_limit_headers, task_pagination, task_retry

IETF = RateLimitHeaders(
    remaining="RateLimit-Remaining", reset="RateLimit-Reset", reset_format="delta_seconds"
)


def _profile(**sections: Any) -> ApiProfile:
    return ApiProfile(
        api="x",
        title="X",
        environments={},
        default_environment="default",
        pagination=sections.get("pagination", {}),
        rate_limit=sections.get("rate_limit", {}),
        raw=sections,
    )


def _task(paginate: Any = "all", retry: RetryPolicy | None = None) -> Any:
    return SimpleNamespace(
        data={"paginate": paginate},
        pagination=Pagination(mode="all"),
        retry=retry or RetryPolicy(),
    )


def _operation(**raw: Any) -> Any:
    return SimpleNamespace(raw=raw)


def test_pagination_precedence_task_then_operation_then_profile() -> None:
    profile = _profile(pagination={"style": "offset", "limit_param": "size"}, items="/data")
    operation = _operation(**{"x-pagination": {"limit_param": "max"}, "x-items": "/results"})
    pagination, items = task_pagination(_task(), None, profile)
    assert (pagination.style, pagination.limit_param, items) == ("offset", "size", "/data")
    pagination, items = task_pagination(_task(), operation, profile)
    assert (pagination.limit_param, items) == ("max", "/results")
    mine = {"pages": "all", "limit_param": "n", "items": "/rows", "style": "cursor"}
    pagination, items = task_pagination(_task(mine), operation, profile)
    assert (pagination.style, pagination.limit_param, items) == ("cursor", "n", "/rows")


@pytest.mark.parametrize(
    ("style", "walker"), [("link", "page"), ("page", "page"), ("cursor", "cursor")]
)
def test_profile_styles_map_to_registered_paginators(style: str, walker: str) -> None:
    pagination, _ = task_pagination(_task(), None, _profile(pagination={"style": style}))
    assert pagination.style == walker


def test_retry_statuses_from_the_profile_unless_the_task_chose() -> None:
    profile = _profile(rate_limit={"retry_statuses": [429, 503]})
    assert task_retry(_task(), profile).retry_on_status == {429, 503}
    chosen = RetryPolicy(retry_on_status=frozenset({500}))
    assert task_retry(_task(retry=chosen), profile).retry_on_status == {500}
    assert task_retry(_task(), None) == RetryPolicy()


def test_rate_limit_header_names_from_the_profile() -> None:
    names = rate_limit_headers(
        _profile(
            rate_limit={
                "remaining_header": "RateLimit-Remaining",
                "reset_header": "RateLimit-Reset",
                "reset_format": "delta_seconds",
            }
        )
    )
    assert names == IETF
    assert rate_limit_headers(None) == RateLimitHeaders()


def test_delta_seconds_reset_is_honoured_by_retry_and_throttle() -> None:
    clock = FakeClock(start=1_000.0)
    headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": "30"}
    assert server_wait(429, headers, clock.time(), IETF) == 30.0
    assert server_wait(429, headers, clock.time()) is None  # Procore's names see nothing
    throttle = Throttle("c", None, InMemoryBudgetStore(), clock, headers=IETF)
    throttle.observe(200, headers)
    throttle.wait_turn(max_wait=60)
    assert clock.sleeps == [30.0]


def test_the_procore_profile_states_its_conventions() -> None:
    from task_runner.catalogue import Catalogue

    profile = Catalogue.load().profile("procore")
    assert profile is not None
    pagination, items = task_pagination(_task(), None, profile)
    assert (pagination.style, pagination.page_param, pagination.total_header) == (
        "page",
        "page",
        "Total",
    )
    assert items == "" and profile.query_encoding["arrays"] == "brackets"
    assert rate_limit_headers(profile) == RateLimitHeaders()
    assert task_retry(_task(), profile).retry_on_status == {429, 502, 503, 504}
    assert Path(profile.file).name == "profile.yaml"
