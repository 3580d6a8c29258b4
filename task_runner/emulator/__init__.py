"""A local, Procore-compatible API server for offline use and tests.

Serves ``POST /oauth/token`` (``client_credentials`` and rotating ``refresh_token``
grants) and ``GET /rest/v1.0/images`` with every parameter of the reference, Procore's
pagination and rate-limit headers, its error answers, and injectable faults.

Example::

    from task_runner.emulator import Emulator

    with Emulator(seed=0, images=250, faults="503:retry-after=1@2") as em:
        print(em.base_url, em.token_url, em.client_id)

Modules: ``data`` (the seeded dataset), ``images`` (query semantics), ``faults`` (the fault
spec), ``ratelimit``, ``oauth``, ``stats``, ``handler`` (HTTP), ``server`` (lifecycle/API).
"""

from __future__ import annotations

from task_runner.emulator.data import (
    MAIN_COMPANY_ID,
    MAIN_PROJECT_ID,
    OTHER_COMPANY_ID,
    OTHER_PROJECT_ID,
)
from task_runner.emulator.faults import FaultRule, FaultSpec, parse_faults
from task_runner.emulator.images import DEFAULT_PER_PAGE, MAX_PER_PAGE
from task_runner.emulator.server import (
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    PAGINATION_MODES,
    Emulator,
)
from task_runner.emulator.stats import RequestRecord

__all__ = [
    "DEFAULT_PER_PAGE",
    "EMULATOR_CLIENT_ID",
    "EMULATOR_CLIENT_SECRET",
    "MAIN_COMPANY_ID",
    "MAIN_PROJECT_ID",
    "MAX_PER_PAGE",
    "OTHER_COMPANY_ID",
    "OTHER_PROJECT_ID",
    "PAGINATION_MODES",
    "Emulator",
    "FaultRule",
    "FaultSpec",
    "RequestRecord",
    "parse_faults",
]
