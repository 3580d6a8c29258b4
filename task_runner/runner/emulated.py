"""``--emulator``: start the built-in Procore emulator and point Procore connections at it."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from task_runner.model import AuthConfig, ConnectionConfig
from task_runner.workflow.prepare import ConnectionPatch

if TYPE_CHECKING:
    from task_runner.emulator import Emulator
    from task_runner.workflow.model import Workflow

__all__ = ["emulated_connections", "maybe_emulator", "start_emulator"]

#: Status lines (the CLI shows them at every verbosity, as text or JSON objects; see
#: ``task_runner.cli.logformat.STATUS_LOGGER``).
status = logging.getLogger("task_runner.status")


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
            # the image files' host: reached without the connection's credentials
            allowed_hosts=frozenset({emulator.files_host}),
        )
    return overrides


@contextlib.contextmanager
def start_emulator() -> Iterator[Emulator]:
    """The emulator every ``--emulator`` command starts (``run``, ``schedule``), announced
    by a status line (stderr under the CLI, text or JSON); stopped on exit.

    Its photos are dated up to now, so that window filters (the last day) find some; a
    command that started it another way would see a different dataset.
    """
    from task_runner.emulator import Emulator

    with Emulator(dataset_end=time.time(), serve_files=True) as emulator:
        status.info("emulator: Procore emulator on %s", emulator.base_url)
        yield emulator


@contextlib.contextmanager
def maybe_emulator(enabled: bool, workflow: Workflow) -> Iterator[dict[str, ConnectionConfig]]:
    """Yield connection overrides: none, or the emulator's while it runs."""
    if not enabled:
        yield {}
        return
    with start_emulator() as emulator:
        overrides = emulated_connections(workflow, emulator)
        names = ", ".join(overrides) or "none (no connection has api: procore)"
        status.info("emulator: connections pointed at it: %s", names)
        yield overrides
