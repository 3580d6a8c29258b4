"""The embedded scheduler: workflow files run by their ``schedule:`` on one machine."""

from __future__ import annotations

from task_runner.scheduling.scheduler import SchedulerConfig, WorkflowScheduler, discover

__all__ = ["SchedulerConfig", "WorkflowScheduler", "discover"]
