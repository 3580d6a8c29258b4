"""Cron expressions mean what crontab(5) says: day of month OR day of week, cronie's
macros, cronsim's extensions refused, and ``validate`` / ``schedule --list`` showing the
next five fire times in the workflow's zone."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from task_runner.cli import main
from task_runner.scheduling.triggers import build_trigger
from task_runner.workflow.model import ScheduleSpec
from tests.runs_support import images_task, restore_logging, workflow_data, write_workflow

UTC = dt.timezone.utc

_logging = pytest.fixture(autouse=True)(restore_logging)


def fires(cron: str, start: dt.datetime, count: int, zone: str = "UTC") -> list[dt.datetime]:
    """What the scheduler's trigger yields, driven as APScheduler drives it."""
    trigger = build_trigger(ScheduleSpec(cron=cron, timezone=zone))
    found: list[dt.datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and len(found) < count:
        found.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return found


# -- day of month and day of week (fault 2) ----------------------------------------------


def test_a_restricted_day_of_month_and_day_of_week_mean_either() -> None:
    # crontab(5): "0 6 1 * 1" runs on the 1st of every month AND on every Monday.
    days = [f.date() for f in fires("0 6 1 * 1", dt.datetime(2026, 5, 31, tzinfo=UTC), 6)]
    assert days == [
        dt.date(2026, 6, 1),  # a Monday and the 1st
        dt.date(2026, 6, 8),
        dt.date(2026, 6, 15),
        dt.date(2026, 6, 22),
        dt.date(2026, 6, 29),
        dt.date(2026, 7, 1),  # a Wednesday: the 1st
    ]


@pytest.mark.parametrize(
    ("cron", "weekdays", "monthdays"),
    [
        ("0 6 * * 1", {0}, None),  # only the day of week restricted
        ("0 6 15 * *", None, {15}),  # only the day of month restricted
        ("0 6 */10 * *", None, {1, 11, 21, 31}),  # a step starting with * still restricts
        ("0 6 * * */3", {6, 2, 5}, None),  # sun, wed, sat (0, 3, 6)
    ],
    ids=["dow-only", "dom-only", "dom-step", "dow-step"],
)
def test_one_restricted_day_field_alone_decides(
    cron: str, weekdays: set[int] | None, monthdays: set[int] | None
) -> None:
    got = fires(cron, dt.datetime(2026, 1, 1, tzinfo=UTC), 40)
    if weekdays is not None:
        assert {f.weekday() for f in got} == weekdays
    if monthdays is not None:
        assert {f.day for f in got} == monthdays


# -- a reference matcher, for expressions hypothesis makes ------------------------------


def _field_values(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-")
            start, end = int(a), int(b)
        else:
            start = end = int(base)
            if step:
                end = high
        values.update(range(start, end + 1, int(step) if step else 1))
    return values


def crontab_matches(cron: str, moment: dt.datetime) -> bool:
    """crontab(5) in a dozen lines: the reference the library is checked against."""
    minute, hour, dom, month, dow = cron.split()
    weekday = (moment.weekday() + 1) % 7  # crontab: 0 = Sunday
    dows = {d % 7 for d in _field_values(dow, 0, 7)}
    dom_ok = moment.day in _field_values(dom, 1, 31)
    dow_ok = weekday in dows
    day_ok = dom_ok and dow_ok if dom.startswith("*") or dow.startswith("*") else dom_ok or dow_ok
    return (
        moment.minute in _field_values(minute, 0, 59)
        and moment.hour in _field_values(hour, 0, 23)
        and moment.month in _field_values(month, 1, 12)
        and day_ok
    )


def _part(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        number.map(str),
        st.integers(1, max(1, (high - low) // 2)).map(lambda s: f"*/{s}"),
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.lists(number, min_size=2, max_size=3, unique=True).map(
            lambda xs: ",".join(map(str, sorted(xs)))
        ),
    )


expressions = st.tuples(_part(0, 59), _part(0, 23), _part(1, 28), _part(1, 12), _part(0, 6)).map(
    " ".join
)


@settings(max_examples=60, deadline=None)
@given(cron=expressions, offset=st.integers(0, 365 * 24 * 60))
def test_fire_times_are_exactly_the_matching_minutes(cron: str, offset: int) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=offset)
    got = fires(cron, start, 3)
    assert got, cron
    assert all(crontab_matches(cron, f) for f in got), (cron, got)
    # No matching minute is passed over before the first fire time (checked within a day).
    probe = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    while probe < min(got[0], start + dt.timedelta(days=1)):
        assert not crontab_matches(cron, probe), (cron, probe, got[0])
        probe += dt.timedelta(minutes=1)


# -- what validate accepts and refuses ---------------------------------------------------


def scheduled_workflow(tmp_path: Path, schedule: dict[str, Any]) -> Path:
    data = workflow_data("cron-check", {"list_images": images_task()}, schedule=schedule)
    return write_workflow(tmp_path / "wf.yaml", data)


@pytest.mark.parametrize(
    ("cron", "field"),
    [
        ("0 6 L * *", "day of month"),  # cronsim's last-day extension: not crontab
        ("0 6 * * 1#2", "day of week"),
        ("0 6 ? * *", "day of month"),
        ("61 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 31 2 *", "day of month"),  # a day February never has
        ("0 6 * *", "5 fields"),
        ("@reboot", "macro"),
    ],
    ids=["L", "hash", "question", "minute-61", "hour-24", "feb-31", "four-fields", "reboot"],
)
def test_validate_refuses_what_crontab_does_not_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cron: str, field: str
) -> None:
    path = scheduled_workflow(tmp_path, {"cron": cron})
    assert main(["validate", str(path), "--output", "json"]) == 2
    [error] = json.loads(capsys.readouterr().out)
    assert error["path"] == "schedule.cron"
    assert field in error["message"]
    assert error["file"] == str(path) and error["line"] > 0


def test_validate_refuses_an_unknown_misfire_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scheduled_workflow(tmp_path, {"cron": "0 6 * * *", "misfire": "later"})
    assert main(["validate", str(path), "--output", "json"]) == 2
    errors = json.loads(capsys.readouterr().out)
    assert any(e["path"] == "schedule.misfire" for e in errors), errors


def test_validate_shows_the_either_rule_and_the_next_five_fire_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scheduled_workflow(tmp_path, {"cron": "0 6 1 * 1", "timezone": "Europe/Berlin"})
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out  # results on stdout, beside the ok line
    assert "either day matches" in out
    [line] = [x for x in out.splitlines() if x.strip().startswith("next 5 in Europe/Berlin")]
    shown = line.split(": ", 1)[1].split(", ")
    assert len(shown) == 5
    for item in shown:  # "2026-12-01 06:00 CET (Tue)": the 1st or a Monday, at 06:00
        day, time_, _zone, weekday = item.split()
        assert time_ == "06:00"
        assert day.endswith("-01") or weekday == "(Mon)", item


def test_macros_mean_their_five_fields() -> None:
    start = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert fires("@daily", start, 3) == fires("0 0 * * *", start, 3)
    assert fires("@weekly", start, 3) == fires("0 0 * * 0", start, 3)


# -- schedule --list ---------------------------------------------------------------------


def listing(capsys: pytest.CaptureFixture[str], *paths: Path) -> dict[str, Any]:
    assert main(["schedule", "--list", "--output", "json", *map(str, paths)]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_schedule_list_gives_the_next_five_times_in_the_workflow_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scheduled_workflow(tmp_path, {"cron": "30 2 * * *", "timezone": "Australia/Sydney"})
    [entry] = listing(capsys, path)["schedules"]
    assert entry["workflow"] == "cron-check" and entry["misfire"] == "run_once"
    times = [dt.datetime.fromisoformat(t) for t in entry["next"]]
    assert len(times) == 5 and times == sorted(times)
    now = dt.datetime.now(UTC)
    assert now < times[0] <= now + dt.timedelta(days=1, hours=1)
    from zoneinfo import ZoneInfo

    sydney = ZoneInfo("Australia/Sydney")
    for t in times:
        assert t.utcoffset() == t.astimezone(sydney).utcoffset()  # written in Sydney time
        local = t.astimezone(sydney)
        assert (local.hour, local.minute) in {(2, 30), (3, 0)}  # 03:00 on a spring-forward day


def test_schedule_list_names_unscheduled_files_and_reports_broken_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "wf"
    write_workflow(
        folder / "every.yaml",
        workflow_data("every", {"list_images": images_task()}, schedule={"every": "15m"}),
    )
    write_workflow(folder / "none.yaml", workflow_data("none", {"list_images": images_task()}))
    write_workflow(
        folder / "bad.yaml",
        workflow_data("bad", {"list_images": images_task()}, schedule={"cron": "0 6 L * *"}),
    )
    assert main(["schedule", "--list", "--output", "json", str(folder)]) == 2
    data = json.loads(capsys.readouterr().out)
    [every] = data["schedules"]
    gaps = {
        (b - a).total_seconds()
        for a, b in _pairs([dt.datetime.fromisoformat(t) for t in every["next"]])
    }
    assert gaps == {900.0}
    assert data["unscheduled"] == [str(folder / "none.yaml")]
    assert [e["path"] for e in data["errors"]] == ["schedule.cron"]


def _pairs(items: list[dt.datetime]) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    return itertools.pairwise(items)
