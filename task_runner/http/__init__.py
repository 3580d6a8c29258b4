"""Sending HTTP tasks: transport, auth, retries, rate limits, pagination, output.

The layers, one module each::

    client.fetch ── paginate ── retry ── auth ── throttle ── transport
                                                     sink (JSONL, atomic)

Example::

    from task_runner.http import Client, JsonlSink, drain
    with Client(connection) as client, JsonlSink("out/images.jsonl") as sink:
        result = drain(client.fetch(request, retry=policy, timeout=timeout,
                                    expect=expect, pagination=pagination), sink)
"""

from __future__ import annotations

from task_runner.http.auth import AUTH_TYPES, Auth, AuthContext, register_auth
from task_runner.http.client import Client
from task_runner.http.clock import Clock, FakeClock, SystemClock
from task_runner.http.faults import (
    BodyTooLargeError,
    ConnectionFault,
    HostNotAllowedError,
    InvalidBodyError,
    RedirectRefusedError,
    TokenEndpointUnavailable,
)
from task_runner.http.progress import ProgressCallback, ProgressEvent, TerminalProgress
from task_runner.http.response import Page, Response
from task_runner.http.retry import Attempt
from task_runner.http.sink import DrainResult, JsonlSink, drain
from task_runner.http.throttle import BudgetStore, InMemoryBudgetStore, Throttle
from task_runner.http.tokens import (
    AccessToken,
    FileTokenStore,
    InMemoryTokenCache,
    LockFactory,
    MemoryTokenStore,
    StoredTokens,
    ThreadLocks,
    TokenCache,
    TokenStore,
)
from task_runner.http.transport import RawResponse, RequestsTransport, Transport

__all__ = [
    "AUTH_TYPES",
    "AccessToken",
    "Attempt",
    "Auth",
    "AuthContext",
    "BodyTooLargeError",
    "BudgetStore",
    "Client",
    "Clock",
    "ConnectionFault",
    "DrainResult",
    "FakeClock",
    "FileTokenStore",
    "HostNotAllowedError",
    "InMemoryBudgetStore",
    "InMemoryTokenCache",
    "InvalidBodyError",
    "JsonlSink",
    "LockFactory",
    "MemoryTokenStore",
    "Page",
    "ProgressCallback",
    "ProgressEvent",
    "RawResponse",
    "RedirectRefusedError",
    "RequestsTransport",
    "Response",
    "StoredTokens",
    "SystemClock",
    "TerminalProgress",
    "ThreadLocks",
    "Throttle",
    "TokenCache",
    "TokenEndpointUnavailable",
    "TokenStore",
    "Transport",
    "drain",
    "register_auth",
]
