"""Shared test set-up: no test writes run state or recordings into the repository."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Run history and refresh-token stores go to a fresh folder per test."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("TASK_RUNNER_STATE_DIR", str(state))
    return state
