"""The full-run estimate of a test run's summary: Total -> pages -> calls -> time at the
rate limit (headers parsed property-based), and the line test-request prints."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from task_runner.cli import main
from task_runner.model import RateLimit, RateLimitHeaders
from task_runner.recording.estimate import (
    Budget,
    estimate_full_run,
    full_run_line,
    header_budget,
)

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "examples" / "workflows" / "procore_images.yaml"
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]
NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TASK_RUNNER_DEFINITIONS", "PROCORE_BASE_URL", "PROCORE_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_documented_line() -> None:
    run = estimate_full_run(
        total=250,
        per_page=100,
        seconds_per_call=0.2,
        budget=Budget(remaining=3599, limit=3600, reset_in=3540),
    )
    assert run.line() == (
        "Total 250 items = 3 pages of 100; a full run: 3 calls, about 1 s at the current "
        "rate limit (3,599 of 3,600 left, resets in 59 min)"
    )


@given(
    st.integers(0, 10**7),
    st.integers(1, 10**4),
    st.floats(0, 5, allow_nan=False),
    st.integers(0, 10**5),
)
def test_calls_are_pages_and_time_never_less_than_the_calls_take(
    total: int, per_page: int, latency: float, remaining: int
) -> None:
    run = estimate_full_run(
        total=total,
        per_page=per_page,
        seconds_per_call=latency,
        budget=Budget(remaining, 3600, 600.0),
    )
    assert run.calls == max(1, math.ceil(total / per_page))
    assert run.seconds >= run.calls * latency - 1e-6
    assert run.at_least is (run.calls > remaining)
    if run.at_least:
        assert run.seconds >= 600.0  # it waits for the reset at least


@given(st.integers(1, 5000), st.integers(1, 100), st.integers(1, 600))
def test_the_connections_own_limit_spaces_the_calls(calls: int, requests: int, per: int) -> None:
    run = estimate_full_run(
        total=calls, per_page=1, seconds_per_call=0.0, rate_limit=RateLimit(requests, per)
    )
    assert run.seconds == (calls - 1) // requests * per


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 7200))
def test_budget_headers_are_read_in_either_reset_format(
    limit: int, remaining: int, delta: int
) -> None:
    unix = {"X-Rate-Limit-Limit": str(limit), "x-rate-limit-remaining": f" {remaining}"}
    unix["X-Rate-Limit-Reset"] = str(int(NOW) + delta)
    assert header_budget(unix, RateLimitHeaders(), now=NOW) == Budget(remaining, limit, delta)
    names = RateLimitHeaders("RateLimit-Remaining", "RateLimit-Reset", "delta_seconds")
    ietf = {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining)}
    ietf["RateLimit-Reset"] = str(delta)
    assert header_budget(ietf, names) == Budget(remaining, limit, float(delta))


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Rate-Limit-Remaining": "many"}, {"X-Rate-Limit-Remaining": "-1"}],
    ids=["none", "text", "negative"],
)
def test_no_usable_budget_is_none(headers: dict[str, str]) -> None:
    assert header_budget(headers, RateLimitHeaders()) is None


def _recording(headers: dict[str, str], *, items: int = 100) -> dict[str, Any]:
    page = {"headers": headers, "item_count": items, "elapsed": 0.5, "accepted": True}
    return {"task": "t", "responses": [page]}


def test_without_a_total_there_is_no_line_and_per_page_falls_back_to_the_page() -> None:
    assert full_run_line(_recording({}), None) is None
    line = full_run_line(_recording({"Total": "1000"}, items=50), None)
    assert line == "Total 1,000 items = 20 pages of 50; a full run: 20 calls, about 10 s"
    refused = _recording({"Total": "5"})
    refused["responses"][0]["accepted"] = False
    assert full_run_line(refused, None) is None


def test_past_the_budget_the_time_is_a_lower_bound() -> None:
    headers = {"Total": "10000", "Per-Page": "1", "X-Rate-Limit-Remaining": "100"}
    headers["X-Rate-Limit-Reset"] = "0"  # long past: resets now
    line = full_run_line(_recording(headers), None)
    assert line is not None and ": 10,000 calls, at least 1 h 23 min at" in line
    assert line.endswith("(100 left, resets now)")


def test_test_request_prints_the_estimate_in_its_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["test-request", str(IMAGES), "-t", "list_images", "--emulator", *INPUTS]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    [line] = [x for x in out if x.startswith("Total ")]
    # The emulator sends Total and Per-Page, and Procore's budget headers.
    assert re.fullmatch(
        r"Total [\d,]+ items = [\d,]+ pages? of \d+; a full run: [\d,]+ calls?, about \d+ s "
        r"at the current rate limit \([\d,]+ of 3,600 left, resets in (\d+ min|1 h)\)",
        line,
    ), line
    assert out[out.index(line) + 1].startswith("recorded: ")  # the summary, before the path
