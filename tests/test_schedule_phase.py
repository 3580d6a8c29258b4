"""`every:` workflows get a stable phase so that many of them do not fire at once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from task_runner.scheduling.triggers import phase_start


@given(
    every=st.floats(min_value=1, max_value=86400),
    now=st.floats(min_value=1e9, max_value=3e9),
    key=st.text(min_size=1, max_size=40),
)
def test_the_first_run_comes_within_one_interval(every: float, now: float, key: str) -> None:
    start = phase_start(every, key, now=now).timestamp()
    assert now < start <= now + every + 1e-3


def test_the_phase_is_stable_across_restarts() -> None:
    every = 600.0
    a = phase_start(every, "procore-daily-photos", now=1_800_000_000.0).timestamp()
    b = phase_start(every, "procore-daily-photos", now=1_800_000_000.0 + 3 * every + 17).timestamp()
    assert (a - b) % every < 1e-6 or every - ((a - b) % every) < 1e-6


def test_many_workflows_spread_over_the_interval() -> None:
    every, now = 10.0, 1_800_000_000.0
    offsets = [phase_start(every, f"wf{n:04d}", now=now).timestamp() % every for n in range(1000)]
    buckets = {int(o) for o in offsets}
    assert buckets == set(range(10))  # every second of the interval has some workflows
    assert max(offsets.count(o) for o in offsets) < 20  # and no instant has a crowd
