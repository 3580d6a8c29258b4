"""One job: try a request again when that can help, and record every attempt.

Retried: connection faults and timeouts (``retry_on_connection_errors``), statuses in
``retry_on_status`` (default 429, 502, 503, 504), and faults that declare themselves
retryable. The wait honours ``Retry-After`` (seconds or HTTP-date) and, on a 429 or when
``X-Rate-Limit-Remaining`` is 0, ``X-Rate-Limit-Reset`` (Unix seconds); otherwise it is
exponential backoff with full jitter. A server-requested wait longer than
``policy.max_wait`` fails at once with :class:`RetryWaitTooLongError` instead of hanging.
Non-idempotent methods are not retried unless the policy opts in.

Example::

    attempts: list[Attempt] = []
    raw = call_with_retry(lambda: transport.send(...), policy=RetryPolicy(), method="GET",
                          clock=SystemClock(), attempts=attempts)
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

from task_runner.errors import RetryWaitTooLongError
from task_runner.http.clock import Clock
from task_runner.http.faults import ConnectionFault, is_retryable, retry_limit
from task_runner.model import IDEMPOTENT_METHODS, RateLimitHeaders, RetryPolicy
from task_runner.redact import REDACTOR

if TYPE_CHECKING:
    from task_runner.http.exchange import Exchange

__all__ = [
    "Attempt",
    "Random",
    "call_with_retry",
    "parse_rate_limit_reset",
    "parse_retry_after",
    "server_wait",
]

log = logging.getLogger("task_runner.http")


class Random(Protocol):
    """The jitter source (``random.Random`` fits); injectable for deterministic tests."""

    def uniform(self, a: float, b: float) -> float: ...


class _HasStatus(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Attempt:
    """One try of one request: what came back and how long we waited before the next.

    Set where the attempt happens, never matched up later: the ``page`` it fetched, the
    ``task`` it belongs to, and its ``exchanges``, what went over the wire in order
    (a token request when one was needed, the request, and its resend after a 401).
    """

    page: int | None
    number: int
    status: int | None
    error: str | None
    wait_before_next: float
    elapsed: float
    started_at: float
    task: str | None = None
    exchanges: tuple[Exchange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "number": self.number,
            "status": self.status,
            "error": self.error,
            "wait_before_next": round(self.wait_before_next, 3),
            "elapsed": round(self.elapsed, 3),
            "started_at": self.started_at,
        }


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP-date; else None."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:  # RFC 9110 dates are always GMT
        return None
    return max(0.0, when.timestamp() - now)


def parse_rate_limit_reset(value: str | None, now: float) -> float | None:
    """``X-Rate-Limit-Reset`` (Unix seconds) as seconds from ``now``; else None."""
    if value is None:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if reset != reset or reset in (float("inf"), float("-inf")):  # NaN, inf
        return None
    return max(0.0, reset - now)


def server_wait(
    status: int,
    headers: Mapping[str, str],
    now: float,
    names: RateLimitHeaders | None = None,
) -> float | None:
    """How long the server asked us to wait, if it did (the longer of both signals).

    ``names``: the API's rate-limit header names (default Procore's ``X-Rate-Limit-*``).
    """
    names = names or RateLimitHeaders()
    waits = [parse_retry_after(headers.get(names.retry_after), now)]
    if status == 429 or headers.get(names.remaining, "").strip() == "0":
        reset = headers.get(names.reset)
        if names.reset_format == "delta_seconds":
            waits.append(parse_retry_after(reset, now))
        else:
            waits.append(parse_rate_limit_reset(reset, now))
    known = [w for w in waits if w is not None]
    return max(known) if known else None


def _backoff(policy: RetryPolicy, attempt: int, rng: Random) -> float:
    ceiling = policy.backoff(attempt)
    # Full jitter: concurrent clients that failed together do not retry together.
    return rng.uniform(0.0, ceiling) if policy.jitter else ceiling


def call_with_retry(
    send: Callable[[], Any],
    *,
    policy: RetryPolicy,
    method: str,
    clock: Clock,
    attempts: list[Attempt],
    rng: Random | None = None,
    page: int | None = None,
    on_wait: Callable[[float], None] | None = None,
    task: str | None = None,
    wire: Callable[[], Sequence[Exchange]] | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> Any:
    """Call ``send`` until it returns a final response or retries are spent.

    ``send`` returns a response (``.status``, ``.headers``) or raises. The last response
    is returned whatever its status (the caller checks expectations); the last error is
    re-raised. Each attempt is appended to ``attempts`` as it finishes, with what
    ``wire()`` says the try sent and got, and passed to ``on_attempt``.
    """
    rng = rng or random.Random()
    log_attempt = _Log(attempts, page, task, wire, on_attempt)
    may_retry = method.upper() in IDEMPOTENT_METHODS or policy.retry_non_idempotent
    retried_kinds: dict[type, int] = {}
    number = 0
    while True:
        number += 1
        started_at, t0 = clock.time(), clock.monotonic()
        response: _HasStatus | None = None
        error: BaseException | None = None
        try:
            response = send()
        except Exception as exc:
            if not is_retryable(exc):
                log_attempt(number, None, exc, 0.0, clock.monotonic() - t0, started_at)
                raise
            error = exc
        elapsed = clock.monotonic() - t0
        retry = (
            may_retry
            and number < policy.max_attempts
            and _wants_retry(policy, response, error, retried_kinds)
        )
        try:
            wait = _wait(policy, response, number, rng, clock) if retry else 0.0
        except RetryWaitTooLongError:
            log_attempt(number, response, error, 0.0, elapsed, started_at)
            raise
        log_attempt(number, response, error, wait, elapsed, started_at)
        if not retry:
            if error is not None:
                raise error
            return response
        if error is not None:
            retried_kinds[type(error)] = retried_kinds.get(type(error), 0) + 1
        log.info(
            "attempt %d%s failed (%s); retrying in %.1fs",
            number,
            f" of page {page}" if page else "",
            REDACTOR.redact(str(error))
            if error
            else f"status {response.status if response else '?'}",
            wait,
        )
        if on_wait is not None:
            on_wait(wait)
        clock.sleep(wait)


def _wants_retry(
    policy: RetryPolicy,
    response: _HasStatus | None,
    error: BaseException | None,
    retried_kinds: dict[type, int],
) -> bool:
    if response is not None:
        return response.status in policy.retry_on_status
    assert error is not None
    if isinstance(error, ConnectionFault) and not policy.retry_on_connection_errors:
        return False
    limit = retry_limit(error)
    return limit is None or retried_kinds.get(type(error), 0) < limit


def _wait(
    policy: RetryPolicy, response: _HasStatus | None, number: int, rng: Random, clock: Clock
) -> float:
    requested = None
    if response is not None:
        requested = server_wait(
            response.status, response.headers, clock.time(), policy.rate_headers
        )
    if requested is None:
        return _backoff(policy, number, rng)
    if requested > policy.max_wait:
        raise RetryWaitTooLongError(
            f"the server asked to wait {requested:.0f}s before retrying (status "
            f"{response.status if response else '?'}), longer than the retry policy's "
            f"max_wait of {policy.max_wait:g}s",
            hint="raise retry.max_wait or run the task later",
        )
    return requested


@dataclass(frozen=True)
class _Log:
    """Where a request's attempts go as they finish."""

    attempts: list[Attempt]
    page: int | None
    task: str | None
    wire: Callable[[], Sequence[Exchange]] | None
    on_attempt: Callable[[Attempt], None] | None

    def __call__(
        self,
        number: int,
        response: _HasStatus | None,
        error: BaseException | None,
        wait: float,
        elapsed: float,
        started_at: float,
    ) -> None:
        attempt = Attempt(
            page=self.page,
            number=number,
            status=response.status if response is not None else None,
            error=REDACTOR.redact(str(error)) if error is not None else None,
            wait_before_next=wait,
            elapsed=elapsed,
            started_at=started_at,
            task=self.task,
            exchanges=tuple(self.wire()) if self.wire is not None else (),
        )
        self.attempts.append(attempt)
        if self.on_attempt is not None:
            self.on_attempt(attempt)
