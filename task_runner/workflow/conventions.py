"""One job: apply an API's conventions to a task, in one order of precedence.

What a general layer must not hard-code comes from data, each setting taken from the
first of these that has it:

1. the task (``paginate: {style: cursor, cursor_param: after}``, ``expect``, ``retry``);
2. the operation's definition (``x-pagination``, ``x-items``);
3. the API profile (``task_definitions/<api>/profile.yaml``: ``pagination``, ``items``,
   ``rate_limit``, ``query_encoding``);
4. the defaults of :class:`~task_runner.model.Pagination` (Procore's own conventions are
   its profile, not these defaults' reason to exist).

Example::

    pagination, items_at = task_pagination(task, operation, profile)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from task_runner.model import Pagination, RateLimitHeaders, RetryPolicy

if TYPE_CHECKING:
    from task_runner.catalogue import OperationDefinition
    from task_runner.catalogue.profile import ApiProfile
    from task_runner.workflow.model import TaskSpec

__all__ = [
    "STYLE_ALIASES",
    "conventions_items_at",
    "rate_limit_headers",
    "task_pagination",
    "task_retry",
]

#: Profile styles that one registered paginator walks (``link``: the ``page`` paginator
#: follows ``Link`` headers when the API sends no ``Total``).
STYLE_ALIASES = {"link": "page", "none": "page", "page_number": "page"}

_FIELDS = {f.name for f in fields(Pagination)} - {"mode", "max_pages", "max_concurrency"}
_TASK_ONLY = {"key", "version", "on_mismatch"}


def _settings(source: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pagination settings a profile, definition or task mapping gives."""
    if not isinstance(source, Mapping):
        return {}
    found = {k: v for k, v in source.items() if k in _FIELDS - _TASK_ONLY}
    if "style" in found:
        found["style"] = STYLE_ALIASES.get(str(found["style"]), str(found["style"]))
    return found


def task_pagination(
    task: TaskSpec,
    operation: OperationDefinition | None,
    profile: ApiProfile | None,
) -> tuple[Pagination, str]:
    """The task's effective :class:`Pagination` and where its items are (a JSON pointer).

    The task's ``paginate`` mapping wins, then the operation's ``x-pagination``, then the
    profile's ``pagination``; ``items`` likewise from the task, ``x-items``, the profile.
    """
    raw_task = task.data.get("paginate") if isinstance(task.data, Mapping) else None
    settings: dict[str, Any] = {}
    settings.update(_settings(profile.pagination if profile else None))
    settings.update(_settings(operation.raw.get("x-pagination") if operation else None))
    settings.update(_settings(raw_task))
    pagination = replace(task.pagination, **settings) if settings else task.pagination
    return pagination, conventions_items_at(raw_task, operation, profile)


def conventions_items_at(
    raw_task: Any, operation: OperationDefinition | None, profile: ApiProfile | None
) -> str:
    """Where a list response holds its items: the task's ``paginate.items``, the
    operation's ``x-items``, the profile's ``items``, else ``""`` (the body itself)."""
    for source in (
        raw_task if isinstance(raw_task, Mapping) else None,
        {"items": operation.raw.get("x-items")} if operation else None,
        profile.raw if profile else None,
    ):
        if source and isinstance(source.get("items"), str):
            return str(source["items"])
    return ""


def rate_limit_headers(profile: ApiProfile | None) -> RateLimitHeaders:
    """The header names of the API's rate-limit budget: the profile's ``rate_limit``
    (``remaining_header``, ``reset_header``, ``reset_format``, ``retry_after_header``)."""
    found = dict(profile.rate_limit) if profile else {}
    base = RateLimitHeaders()
    reset_format = str(found.get("reset_format") or base.reset_format)
    return RateLimitHeaders(
        remaining=str(found.get("remaining_header") or base.remaining),
        reset=str(found.get("reset_header") or base.reset),
        reset_format="delta_seconds" if reset_format == "delta_seconds" else "unix_seconds",
        retry_after=str(found.get("retry_after_header") or base.retry_after),
    )


def task_retry(task: TaskSpec, profile: ApiProfile | None) -> RetryPolicy:
    """The task's retry policy; the statuses it retries come from the profile's
    ``rate_limit.retry_statuses`` unless the task (or ``defaults``) names ``retry_on``."""
    statuses = (profile.rate_limit if profile else {}).get("retry_statuses")
    if not statuses or task.retry.retry_on_status != RetryPolicy().retry_on_status:
        return task.retry  # the task (or the workflow's defaults) chose its own
    return replace(task.retry, retry_on_status=frozenset(int(s) for s in statuses))
