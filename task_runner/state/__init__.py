"""Run state on this machine: the SQLite run history."""

from __future__ import annotations

from task_runner.state.history import (
    DB_NAME,
    RUN_STATUSES,
    STATE_DIR_ENV,
    History,
    SuccessRecord,
    resolve_state_dir,
)

__all__ = [
    "DB_NAME",
    "RUN_STATUSES",
    "STATE_DIR_ENV",
    "History",
    "SuccessRecord",
    "resolve_state_dir",
]
