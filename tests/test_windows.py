"""Incremental windows: arithmetic, a failed run covered by the next one, and the window a
real run sends as ``filters[updated_at]``."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from task_runner.emulator import Emulator
from task_runner.runner import ExecutionOptions
from task_runner.runner.emulated import emulated_connections
from task_runner.runner.service import run_workflow
from task_runner.runner.windows import compute_window, plan_run
from task_runner.state import History
from task_runner.workflow import load_workflow
from task_runner.workflow.model import WindowSpec
from tests.runs_support import WINDOW_FILTER, images_task, workflow_data, write_workflow

T0 = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)


def test_the_first_window_looks_back_the_initial_lookback() -> None:
    window = compute_window(WindowSpec(initial_lookback=7200), end=T0)
    assert (window.start, window.end) == (T0 - 2 * HOUR, T0)


def test_later_windows_start_at_the_previous_end_less_the_overlap() -> None:
    window = compute_window(WindowSpec(overlap=60), end=T0, previous_end=T0 - HOUR)
    assert window.start == T0 - HOUR - dt.timedelta(seconds=60)
    assert window.end == T0


def test_max_span_ends_a_long_window_early_so_the_next_run_continues() -> None:
    spec = WindowSpec(max_span=3600)
    first = compute_window(spec, end=T0, previous_end=T0 - 5 * HOUR)
    assert (first.start, first.end) == (T0 - 5 * HOUR, T0 - 4 * HOUR)
    second = compute_window(spec, end=T0, previous_end=first.end)
    assert second.start == first.end


def test_a_previous_end_after_this_end_gives_an_empty_window_not_a_reversed_one() -> None:
    window = compute_window(WindowSpec(), end=T0, previous_end=T0 + HOUR)
    assert window.start == window.end == T0


@given(
    outcomes=st.lists(st.booleans(), min_size=1, max_size=12),
    gaps=st.lists(st.integers(min_value=1, max_value=10_000), min_size=12, max_size=12),
)
def test_successful_windows_tile_time_without_gaps(outcomes: list[bool], gaps: list[int]) -> None:
    """Whatever fails in between, the successful windows join end to start."""
    spec = WindowSpec(initial_lookback=3600)
    now, previous_end = T0, None
    succeeded = []
    for ok, gap in zip(outcomes, gaps, strict=False):
        now += dt.timedelta(seconds=gap)
        window = compute_window(spec, end=now, previous_end=previous_end)
        if ok:
            succeeded.append(window)
            previous_end = window.end
    for before, after in itertools.pairwise(succeeded):
        assert after.start == before.end
    if outcomes[-1]:
        assert succeeded[-1].end == now


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_plan_run_uses_the_last_success_and_the_scheduled_time(tmp_path: Path) -> None:
    history = History.open(tmp_path)
    spec = WindowSpec(initial_lookback=86400, lag=0)
    clock = Clock(T0)
    first = plan_run("wf", spec, history, now=clock)
    assert (first.window_start, first.window_end) == (T0 - 24 * HOUR, T0)
    assert first.previous_success_at is None
    scheduled = T0 + HOUR + dt.timedelta(microseconds=250_000)
    clock.now = T0 + HOUR + dt.timedelta(seconds=3)  # started a little late
    second = plan_run("wf", spec, None, scheduled_at=scheduled, trigger="schedule", now=clock)
    assert second.window_end == T0 + HOUR  # the scheduled time, in whole seconds
    assert second.started_at == clock.now


@pytest.mark.parametrize("lag", [None, 0, 300], ids=["default-60s", "no-lag", "5min"])
def test_a_window_ends_lag_before_the_run_time(lag: float | None) -> None:
    spec = WindowSpec() if lag is None else WindowSpec(lag=lag)
    expected = dt.timedelta(seconds=60 if lag is None else lag)
    manual = plan_run("wf", spec, None, now=Clock(T0))
    assert manual.window_end == T0 - expected and manual.started_at == T0
    scheduled = plan_run("wf", spec, None, scheduled_at=T0 + HOUR, now=Clock(T0 + HOUR))
    assert scheduled.window_end == T0 + HOUR - expected
    assert scheduled.scheduled_at == T0 + HOUR


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(images=40) as em:
        yield em


def test_a_failed_run_is_covered_by_the_next_run(tmp_path: Path, emulator: Emulator) -> None:
    path = write_workflow(
        tmp_path / "wf.yaml",
        workflow_data(
            "windows",
            {"list_images": images_task(**{"filters[updated_at]": WINDOW_FILTER})},
            window={"initial_lookback": "1h", "lag": "0s"},
        ),
    )
    workflow = load_workflow(path)
    history = History.open(tmp_path)
    options = ExecutionOptions(connection_overrides=emulated_connections(workflow, emulator))
    clock = Clock(T0)

    def run_at(moment: dt.datetime, project: int) -> tuple[str, dt.datetime, dt.datetime]:
        clock.now = moment
        before = len(emulator.request_log)
        result = run_workflow(
            workflow, {"project_id": project}, options=options, history=history, now=clock
        )
        sent = [r for r in emulator.request_log[before:] if r.path.endswith("/images")]
        query = parse_qs(sent[-1].query)
        start, end = query["filters[updated_at]"][0].split("...")
        return result.status, _parse(start), _parse(end)

    assert run_at(T0, 777) == ("succeeded", T0 - HOUR, T0)
    assert run_at(T0 + HOUR, 999_999) == ("failed", T0, T0 + HOUR)  # unknown project: 404
    assert run_at(T0 + 2 * HOUR, 777) == ("succeeded", T0, T0 + 2 * HOUR)
    assert run_at(T0 + 3 * HOUR, 777) == ("succeeded", T0 + 2 * HOUR, T0 + 3 * HOUR)
    runs = history.list_runs(workflow="windows")
    assert [r["status"] for r in runs] == ["succeeded", "succeeded", "failed", "succeeded"]
    assert runs[0]["previous_success_at"] == "2026-03-01T08:00:00Z"


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
