"""The send path's own failure kinds, each placed in the project's error tree.

Each class says whether the retry layer may try again (``retryable``) and, for faults
worth only one more try, how many retries it gets (``retry_limit``). The retry layer
reads these attributes through :func:`is_retryable`; nothing else inspects exception
types, so a new fault only has to declare them.
"""

from __future__ import annotations

from typing import Any

from task_runner.errors import AuthError, RunError, TransportError

__all__ = [
    "BodyTooDeepError",
    "BodyTooLargeError",
    "ConnectionFault",
    "DeadlineExceeded",
    "HostNotAllowedError",
    "InvalidBodyError",
    "RedirectRefusedError",
    "TokenDeadlineExceeded",
    "TokenEndpointUnavailable",
    "is_retryable",
    "retry_limit",
]


class ConnectionFault(TransportError):
    """Connection refused or reset, timeout, truncated body: worth another attempt."""

    retryable = True


class DeadlineExceeded(ConnectionFault):
    """The attempt (connect, headers and body) did not finish within its total timeout.

    A server that drips its answer will most likely do it again, so one more try at
    most: a task then fails within about twice its ``timeout.total``.
    """

    retry_limit = 1

    def __init__(self, message: str, *, limit: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class RedirectRefusedError(TransportError):
    """The server redirected to a host the connection does not allow."""

    retryable = False


class HostNotAllowedError(RunError):
    """A URL (request, redirect or ``Link: next``) points outside the connection's hosts."""

    retryable = False


class BodyTooLargeError(RunError):
    """The response body (decompressed) exceeded ``expect.max_body_bytes``; reading
    stopped at the cap, so memory stays bounded whatever the server sends."""

    retryable = False


class InvalidBodyError(RunError):
    """A success status came with a body that is not the JSON it claims to be.

    Retried once (a proxy or server hiccup), then reported naming the page.
    """

    retryable = True
    retry_limit = 1


class BodyTooDeepError(InvalidBodyError):
    """A JSON body nests arrays and objects deeper than the decoder accepts.

    Not retried: the same server sends the same body again.
    """

    retryable = False


class TokenEndpointUnavailable(AuthError):
    """The token endpoint could not be reached or answered 429/5xx: retry later."""

    retryable = True


class TokenDeadlineExceeded(TokenEndpointUnavailable):
    """The token request did not finish within its total timeout: one more try at most."""

    retry_limit = 1


def is_retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))


def retry_limit(exc: BaseException) -> int | None:
    """How many retries this fault kind allows at most (``None``: the policy decides)."""
    limit = getattr(exc, "retry_limit", None)
    return limit if isinstance(limit, int) else None
