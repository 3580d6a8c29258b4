"""Both 2026 DST changes in three zones, as the scheduler's own trigger fires across them.

Each row is a cron expression, a zone and a local day or two around a change, and the
local fire times cronie gives (crontab(5), "Daylight Saving Time and other time changes"):
a fixed-time job runs once per day, the one in the skipped hour right after the change,
the one in the repeated hour once; wildcard jobs follow the wall clock.
The trigger is driven as APScheduler drives it: the next time after the previous one.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from task_runner.scheduling.triggers import build_trigger
from task_runner.workflow.model import ScheduleSpec

UTC = dt.timezone.utc

# zone, local start (exclusive), local end (inclusive), cron, expected local fire times
# ("HH:MM+offset" on the day given, "dD HH:MM+offset" on another day of the month).
CHANGES = {
    # America/Los_Angeles: 2026-03-08 02:00 PST -> 03:00 PDT; 2026-11-01 02:00 PDT -> 01:00 PST
    "los-angeles-spring": ("America/Los_Angeles", "2026-03-07"),
    "los-angeles-autumn": ("America/Los_Angeles", "2026-10-31"),
    # Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET
    "berlin-spring": ("Europe/Berlin", "2026-03-28"),
    "berlin-autumn": ("Europe/Berlin", "2026-10-24"),
    # Australia/Sydney: 2026-04-05 03:00 AEDT -> 02:00 AEST; 2026-10-04 02:00 AEST -> 03:00 AEDT
    "sydney-autumn": ("Australia/Sydney", "2026-04-04"),
    "sydney-spring": ("Australia/Sydney", "2026-10-03"),
}

# change, cron, expected local fire times over the three days from the day before the
# change (day-of-month, local time with offset).
TABLE = [
    # A midnight job: one run per day on all three days, none lost (fault 1).
    ("los-angeles-spring", "0 0 * * *", ["08 00:00-08:00", "09 00:00-07:00", "10 00:00-07:00"]),
    ("los-angeles-autumn", "0 0 * * *", ["01 00:00-07:00", "02 00:00-08:00", "03 00:00-08:00"]),
    ("berlin-spring", "0 0 * * *", ["29 00:00+01:00", "30 00:00+02:00", "31 00:00+02:00"]),
    ("berlin-autumn", "0 0 * * *", ["25 00:00+02:00", "26 00:00+01:00", "27 00:00+01:00"]),
    ("sydney-autumn", "0 0 * * *", ["05 00:00+11:00", "06 00:00+10:00", "07 00:00+10:00"]),
    ("sydney-spring", "0 0 * * *", ["04 00:00+10:00", "05 00:00+11:00", "06 00:00+11:00"]),
    # A job in the skipped hour runs once, right after the change; in the repeated hour once.
    ("los-angeles-spring", "30 2 * * *", ["08 03:00-07:00", "09 02:30-07:00", "10 02:30-07:00"]),
    ("los-angeles-autumn", "30 1 * * *", ["01 01:30-07:00", "02 01:30-08:00", "03 01:30-08:00"]),
    ("berlin-spring", "30 2 * * *", ["29 03:00+02:00", "30 02:30+02:00", "31 02:30+02:00"]),
    ("berlin-autumn", "30 2 * * *", ["25 02:30+02:00", "26 02:30+01:00", "27 02:30+01:00"]),
    ("sydney-autumn", "30 2 * * *", ["05 02:30+11:00", "06 02:30+10:00", "07 02:30+10:00"]),
    ("sydney-spring", "30 2 * * *", ["04 03:00+11:00", "05 02:30+11:00", "06 02:30+11:00"]),
    # A job in neither hour is untouched.
    ("berlin-spring", "0 6 * * *", ["29 06:00+02:00", "30 06:00+02:00", "31 06:00+02:00"]),
    ("sydney-spring", "45 23 * * *", ["04 23:45+11:00", "05 23:45+11:00", "06 23:45+11:00"]),
]


def local_times(change: str, cron: str, days: int = 3) -> list[str]:
    """Fire times of the scheduler's trigger from the day of the change on, for ``days``."""
    zone_name, before = CHANGES[change]
    zone = ZoneInfo(zone_name)
    start = dt.datetime.fromisoformat(before).replace(hour=23, minute=59, tzinfo=zone)
    end = start + dt.timedelta(days=days)
    local = (t.astimezone(zone) for t in fire_times(cron, zone_name, start, end))
    return [f"{t:%d %H:%M}{t.isoformat()[-6:]}" for t in local]


def fire_times(cron: str, zone: str, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    """What APScheduler asks its trigger: first time from ``start``, then each after the last."""
    trigger = build_trigger(ScheduleSpec(cron=cron, timezone=zone))
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= end:
        yield fire
        fire = trigger.get_next_fire_time(fire, fire)


@pytest.mark.parametrize(
    ("change", "cron", "expected"),
    TABLE,
    ids=[f"{change}-{cron.replace(' ', '_')}" for change, cron, _ in TABLE],
)
def test_fixed_time_jobs_run_once_per_day_across_the_change(
    change: str, cron: str, expected: list[str]
) -> None:
    assert local_times(change, cron) == expected


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_15_minutes_keeps_15_real_minutes_across_the_change(change: str) -> None:
    zone_name, before = CHANGES[change]
    zone = ZoneInfo(zone_name)
    start = dt.datetime.fromisoformat(before).replace(hour=22, tzinfo=zone).astimezone(UTC)
    times = list(fire_times("*/15 * * * *", zone_name, start, start + dt.timedelta(hours=8)))
    gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in itertools.pairwise(times)}
    assert gaps == {dt.timedelta(minutes=15)}
    assert len(times) == 8 * 4 + 1  # both ends included


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_two_hours_fires_at_the_even_wall_clock_hours(change: str) -> None:
    zone_name, before = CHANGES[change]
    zone = ZoneInfo(zone_name)
    start = dt.datetime.fromisoformat(before).replace(hour=20, tzinfo=zone).astimezone(UTC)
    times = list(fire_times("0 */2 * * *", zone_name, start, start + dt.timedelta(hours=12)))
    local = [t.astimezone(zone) for t in times]
    assert all(t.minute == 0 and t.hour % 2 == 0 for t in local)
    instants = [t.astimezone(UTC) for t in times]
    assert instants == sorted(set(instants))  # each instant once, in order
    # A skipped even hour is gone, a repeated one comes twice: real gaps of 1 to 3 hours.
    gaps = {b - a for a, b in itertools.pairwise(instants)}
    assert gaps <= {dt.timedelta(hours=h) for h in (1, 2, 3)}
    hours = [t.hour for t in local]
    assert sorted(set(hours)) == sorted({h for h in range(0, 24, 2) if h in hours})


def test_the_table_covers_both_changes_in_three_zones() -> None:
    zones = {zone for zone, _ in CHANGES.values()}
    assert zones == {"America/Los_Angeles", "Europe/Berlin", "Australia/Sydney"}
    for change in CHANGES:
        assert any(row[0] == change for row in TABLE), change
