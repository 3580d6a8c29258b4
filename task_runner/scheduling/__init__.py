"""The embedded scheduler: workflow files run by their ``schedule:`` on one machine.

Modules: :mod:`.scheduler` (:class:`WorkflowScheduler`: lifecycle, reloads, firing),
:mod:`.files` (the watched workflow files), :mod:`.jobs` (their APScheduler jobs),
:mod:`.misfire` (missed, skipped and claimed fire times), :mod:`.runs` (one run here and
its log lines), :mod:`.triggers` and :mod:`.cron` (when a schedule fires),
:mod:`.executor` (the pool that passes the fire time), :mod:`.listing` (``schedule --list``, ``validate``).
"""

from __future__ import annotations

from task_runner.scheduling.files import discover
from task_runner.scheduling.scheduler import SchedulerConfig, WorkflowScheduler

__all__ = ["SchedulerConfig", "WorkflowScheduler", "discover"]
