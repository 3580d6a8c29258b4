"""One job: from a test run's first page, what a full run of the task would take.

The API's ``Total`` and ``Per-Page`` headers say how many pages a full listing is (one
call each); the recorded pages say how long a call takes; the rate limit says how fast
calls may go -- the connection's own ``rate_limit`` and the budget the API reports in
its rate-limit headers (``X-Rate-Limit-Limit`` / ``-Remaining`` / ``-Reset`` for
Procore; the names come from the API profile)::

    Total 250 items = 3 pages of 100; a full run: 3 calls, about 1 s at the current
    rate limit (3,599 of 3,600 left, resets in 59 min)

Calls are counted one after another (a run fetching pages concurrently is faster), so
the time is an estimate, not a promise; past the remaining budget it is a lower bound.

Example::

    line = full_run_line(outcome.recording, workflow)   # None without a Total header
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from task_runner.model import RateLimit, RateLimitHeaders

if TYPE_CHECKING:
    from task_runner.workflow.model import Workflow

__all__ = ["Budget", "FullRun", "estimate_full_run", "full_run_line", "header_budget"]


@dataclass(frozen=True)
class Budget:
    """The API's rate-limit budget as its headers state it (any part may be unknown)."""

    remaining: int
    limit: int | None = None
    reset_in: float | None = None  # seconds until the window resets


@dataclass(frozen=True)
class FullRun:
    total: int
    per_page: int
    calls: int
    seconds: float
    at_least: bool  # the budget runs out first: the time is a lower bound
    budget: Budget | None
    rate_limit: RateLimit | None

    def line(self) -> str:
        pages = f"{self.calls:,} page{'s' if self.calls != 1 else ''}"
        head = f"Total {self.total:,} items = {pages} of {self.per_page:,}"
        when = ("at least " if self.at_least else "about ") + _duration(self.seconds)
        text = f"{head}; a full run: {self.calls:,} call{'s' if self.calls != 1 else ''}, {when}"
        limits = []
        if self.budget is not None:
            left = f"{self.budget.remaining:,}"
            if self.budget.limit is not None:
                left += f" of {self.budget.limit:,}"
            left += " left"
            if self.budget.reset_in is not None:
                reset = self.budget.reset_in
                left += f", resets in {_duration(reset)}" if reset >= 1 else ", resets now"
            limits.append(left)
        if self.rate_limit is not None:
            limits.append(
                f"connection limit {self.rate_limit.requests:,} per {_duration(self.rate_limit.per)}"
            )
        if limits:
            text += f" at the current rate limit ({'; '.join(limits)})"
        return text


def _duration(seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = round(whole / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _integer(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def header_budget(
    headers: Mapping[str, str], names: RateLimitHeaders, *, now: float | None = None
) -> Budget | None:
    """The budget in ``headers``; the limit header is the remaining one's sibling
    (``X-Rate-Limit-Remaining`` -> ``X-Rate-Limit-Limit``)."""
    lookup = {str(k).lower(): v for k, v in headers.items()}
    remaining = _integer(lookup.get(names.remaining.lower()))
    if remaining is None or remaining < 0:
        return None
    limit_name = names.remaining.lower().replace("remaining", "limit")
    reset = _integer(lookup.get(names.reset.lower()))
    reset_in: float | None = None
    if reset is not None:
        moment = time.time() if now is None else now
        reset_in = float(reset) if names.reset_format == "delta_seconds" else reset - moment
        reset_in = max(0.0, reset_in)
    return Budget(remaining, _integer(lookup.get(limit_name)), reset_in)


def estimate_full_run(
    *,
    total: int,
    per_page: int,
    seconds_per_call: float,
    budget: Budget | None = None,
    rate_limit: RateLimit | None = None,
) -> FullRun:
    """Calls and time for ``total`` items at ``per_page``, one call after another."""
    calls = max(1, math.ceil(total / per_page)) if per_page > 0 else 1
    seconds = calls * max(0.0, seconds_per_call)
    if rate_limit is not None and rate_limit.requests > 0:
        # The client's window lets `requests` calls through per `per` seconds.
        seconds = max(seconds, (calls - 1) // rate_limit.requests * rate_limit.per)
    at_least = False
    if budget is not None and calls > budget.remaining:
        at_least = True  # the rest waits for the reset (and maybe later windows)
        seconds = max(
            seconds, (budget.reset_in or 0.0) + (calls - budget.remaining) * seconds_per_call
        )
    return FullRun(total, per_page, calls, seconds, at_least, budget, rate_limit)


def full_run_line(recording: Mapping[str, Any] | None, workflow: Workflow | None) -> str | None:
    """The summary line for a test run's recording, or None when the API sent no Total."""
    if not recording:
        return None
    pages = [r for r in recording.get("responses") or () if r.get("accepted", True)]
    if not pages:
        return None
    headers = {str(k).lower(): v for k, v in (pages[0].get("headers") or {}).items()}
    names, rate, total_name, per_page_name = _settings(recording, workflow)
    total = _integer(headers.get(total_name.lower()))
    per_page = _integer(headers.get(per_page_name.lower())) or int(pages[0].get("item_count") or 0)
    if total is None or total < 0 or per_page <= 0:
        return None
    elapsed = [float(p.get("elapsed") or 0.0) for p in pages]
    return estimate_full_run(
        total=total,
        per_page=per_page,
        seconds_per_call=sum(elapsed) / len(elapsed),
        budget=header_budget(headers, names),
        rate_limit=rate,
    ).line()


def _settings(
    recording: Mapping[str, Any], workflow: Workflow | None
) -> tuple[RateLimitHeaders, RateLimit | None, str, str]:
    """The task's rate-limit header names, its connection's rate limit, and the names of
    its Total and Per-Page headers (the API profile's, else the defaults)."""
    from task_runner.model import Pagination

    defaults = (RateLimitHeaders(), None, Pagination().total_header, Pagination().per_page_header)
    task = workflow.tasks.get(str(recording.get("task"))) if workflow is not None else None
    if workflow is None or task is None:
        return defaults
    from task_runner.durations import parse_duration
    from task_runner.workflow.conventions import rate_limit_headers, task_pagination

    connection = workflow.connections.get(str(task.connection or recording.get("connection")))
    data = connection.data if connection is not None else {}
    profile = workflow.catalogue.profile(str(data["api"])) if data.get("api") else None
    pagination, _ = task_pagination(task, workflow.operation(task), profile)
    rate = None
    raw = data.get("rate_limit")
    if isinstance(raw, Mapping):
        try:
            rate = RateLimit(int(raw["requests"]), parse_duration(raw["per"]))
        except (KeyError, TypeError, ValueError):
            rate = None  # a templated or odd value: the estimate goes without it
    return rate_limit_headers(profile), rate, pagination.total_header, pagination.per_page_header
