"""Workflow files for the run, history, window and scheduler tests (written into tmp dirs)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

CONNECTION = {
    "api": "procore",
    "base_url": "{{ env.PROCORE_BASE_URL | default('https://api.procore.com') }}",
    "auth": {
        "type": "oauth2_client_credentials",
        "token_url": "{{ env.PROCORE_TOKEN_URL | default('https://login.procore.com/oauth/token') }}",
        "client_id": "{{ secrets.PROCORE_CLIENT_ID }}",
        "client_secret": "{{ secrets.PROCORE_CLIENT_SECRET }}",
    },
}

WINDOW_FILTER = "{{ run.window_start | iso_range(run.window_end) }}"


def images_task(
    project: Any = "{{ inputs.project_id }}", *, depends_on: list[str] | None = None, **params: Any
) -> dict[str, Any]:
    """An images task (one page, no retries so that failures are quick)."""
    task: dict[str, Any] = {
        "operation": "procore.images.list",
        "connection": "procore",
        "params": {
            "Procore-Company-Id": "{{ inputs.company_id }}",
            "project_id": project,
            "per_page": 10,
            **params,
        },
        "paginate": 1,
        "retry": {"max_attempts": 1},
        "timeout": {"connect": "5s", "read": "30s"},
    }
    if depends_on:
        task["depends_on"] = depends_on
    return task


def workflow_data(
    name: str,
    tasks: dict[str, Any],
    *,
    schedule: dict[str, Any] | None = None,
    window: dict[str, Any] | None = None,
    defaults: bool = True,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "company_id": {"type": "integer", **({"default": 8089} if defaults else {})},
        "project_id": {"type": "integer", **({"default": 777} if defaults else {})},
    }
    data: dict[str, Any] = {"name": name, "inputs": inputs, "connections": {"procore": CONNECTION}}
    if schedule:
        data["schedule"] = schedule
    if window:
        data["window"] = window
    data["tasks"] = tasks
    return data


def write_workflow(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    tmp.replace(path)
    return path


def db_rows(state_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of the history database, read directly (not through the code under test)."""
    db = state_dir / "state.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(str(db), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # the database is being created right now
            return []
        raise
    finally:
        conn.close()


def restore_logging() -> Iterator[None]:
    """Undo what ``cli.main`` does to the ``task_runner`` logger (a handler on a stream that
    pytest closes, propagation off), so that later tests' ``caplog`` sees the records."""
    logger = logging.getLogger("task_runner")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    logger.handlers[:] = []
    logger.propagate = True
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate, logger.level = saved
