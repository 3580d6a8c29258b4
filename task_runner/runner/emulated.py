"""``--emulator``: start the built-in Procore emulator and point Procore connections at it."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from task_runner.model import AuthConfig, ConnectionConfig
from task_runner.workflow.prepare import ConnectionPatch

if TYPE_CHECKING:
    from task_runner.emulator import Emulator
    from task_runner.workflow.model import Workflow

__all__ = ["emulated_connections", "maybe_emulator"]


def emulated_connections(workflow: Workflow, emulator: Emulator) -> dict[str, ConnectionConfig]:
    """Every connection with ``api: procore``, re-pointed at ``emulator`` with its credentials."""
    overrides: dict[str, ConnectionConfig] = {}
    for name, spec in workflow.connections.items():
        if spec.api != "procore":
            continue
        overrides[name] = ConnectionPatch(
            name=name,
            base_url=emulator.base_url,
            auth=AuthConfig(
                type="oauth2_client_credentials",
                token_url=emulator.token_url,
                client_id=emulator.client_id,
                client_secret=emulator.client_secret,
            ),
        )
    return overrides


@contextlib.contextmanager
def maybe_emulator(enabled: bool, workflow: Workflow) -> Iterator[dict[str, ConnectionConfig]]:
    """Yield connection overrides: none, or the emulator's while it runs."""
    if not enabled:
        yield {}
        return
    from task_runner.emulator import Emulator

    # Photos dated up to now, so that window filters (the last day) find some.
    with Emulator(dataset_end=time.time()) as emulator:
        overrides = emulated_connections(workflow, emulator)
        names = ", ".join(overrides) or "none (no connection has api: procore)"
        print(
            f"emulator: Procore emulator on {emulator.base_url}; connections pointed at it: {names}",
            file=sys.stderr,
        )
        yield overrides
