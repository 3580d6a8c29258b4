"""One job: put the layers together for one connection.

The send path, one concern per layer::

    fetch ── paginate ── retry ── auth (401 -> new token, once) ── throttle ── transport

The throttle sits just above the transport so that EVERY request on the wire (retries
and the resend after a 401 included) waits its turn and is counted in the budget.

One :class:`Client` per connection, shared by all tasks and threads that use it.

Example::

    client = Client(connection)
    for page in client.fetch(request, retry=RetryPolicy(), timeout=Timeout(),
                             expect=Expect(), pagination=Pagination(mode="all")):
        print(page.number, len(page.items))
    client.close()
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin

from task_runner.errors import HTTPStatusError, task_context
from task_runner.http.auth import AuthContext, StaticAuth, make_auth
from task_runner.http.clock import Clock, SystemClock
from task_runner.http.concurrency import CEILING, AdaptiveConcurrency
from task_runner.http.exchange import Exchange, SentRequest, WireLog
from task_runner.http.faults import HostNotAllowedError
from task_runner.http.paginate import paginate
from task_runner.http.progress import ProgressCallback, ProgressEvent
from task_runner.http.response import Page, Response, check_body, decode_body, extract_items
from task_runner.http.retry import Attempt, Random, call_with_retry
from task_runner.http.tally import Tally
from task_runner.http.throttle import BudgetStore, InMemoryBudgetStore, Throttle
from task_runner.http.tokens import (
    InMemoryTokenCache,
    LockFactory,
    ThreadLocks,
    TokenCache,
    TokenStore,
)
from task_runner.http.transport import (
    RawResponse,
    RequestsTransport,
    Transport,
    origin,
    safe_url,
    without_credentials,
)
from task_runner.model import (
    ConnectionConfig,
    Expect,
    Pagination,
    PreparedRequest,
    RetryPolicy,
    Timeout,
)
from task_runner.redact import MASK, REDACTOR

__all__ = ["Client"]

log = logging.getLogger("task_runner.http")

EXCERPT_CHARS = 500


@dataclass
class _Answer:
    """A raw response with its decoded body: what one attempt produces."""

    raw: RawResponse
    body: Any

    @property
    def status(self) -> int:
        return self.raw.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self.raw.headers


class Client:
    """Sends a connection's requests: auth, retries, rate limits, pagination."""

    def __init__(
        self,
        connection: ConnectionConfig,
        *,
        transport: Transport | None = None,
        clock: Clock | None = None,
        token_store: TokenStore | None = None,
        token_cache: TokenCache | None = None,
        locks: LockFactory | None = None,
        budget_store: BudgetStore | None = None,
        rng: Random | None = None,
        auth_timeout: Timeout | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        """``on_attempt`` hears of every attempt as it finishes (from the thread that made
        it), with its page, task and wire exchanges: what recordings are built from.

        Attempts carry their exchanges (request as sent, response body as received) only
        for such a listener: a plain run keeps no body beyond its page, so a long export
        stays flat in memory.
        """
        self.connection = connection
        self.on_attempt = on_attempt
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        #: The most requests in flight on this connection: its ``max_concurrency`` when
        #: set, else the adaptive window's ceiling (see :mod:`task_runner.http.concurrency`).
        self.max_concurrency = (
            max(connection.max_concurrency, CEILING)
            if connection.adaptive
            else max(1, connection.max_concurrency)
        )
        self.transport = transport or RequestsTransport(
            verify=connection.verify, pool_size=self.max_concurrency
        )
        self.wire = WireLog(self.transport, self.clock.time, enabled=on_attempt is not None)
        self.auth = make_auth(
            connection.auth,
            AuthContext(
                connection=connection.name,
                transport=self.wire.transport_for("token"),
                clock=self.clock,
                token_cache=token_cache or InMemoryTokenCache(),
                locks=locks or ThreadLocks(),
                token_store=token_store,
                timeout=auth_timeout
                or Timeout(connect=10.0, read=30.0, total=connection.auth.token_timeout),
            ),
        )
        self.throttle = Throttle(
            connection.name,
            connection.rate_limit,
            budget_store or InMemoryBudgetStore(),
            self.clock,
            headers=connection.rate_limit_headers,
        )
        self.origin = origin(connection.base_url)
        self.hosts = frozenset({self.origin[1], *connection.allowed_hosts})

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        request: PreparedRequest,
        *,
        retry: RetryPolicy,
        timeout: Timeout,
        expect: Expect,
        progress: ProgressCallback | None = None,
    ) -> Response:
        """Send one request (with retries); a status ``expect`` refuses raises
        :class:`HTTPStatusError` naming the task, status, reason and body start."""
        return self._page(request, 1, None, retry, timeout, expect, _waiter(progress, request))

    def fetch(
        self,
        request: PreparedRequest,
        *,
        retry: RetryPolicy,
        timeout: Timeout,
        expect: Expect,
        pagination: Pagination,
        on_page: Callable[[Page], None] | None = None,
        progress: ProgressCallback | None = None,
        tally: Tally | None = None,
    ) -> Iterator[Page]:
        """Yield the task's pages in order (one page when ``pagination`` is off).

        Every page's items pass through ``tally`` (a fresh ``Tally(key=pagination.key)``
        when not given): items repeated across pages are dropped and counted, and what
        the API promised (``Total``) is compared with what came. The caller reads the
        tally after the last page (``tally.finish()`` is called here).
        """
        tally = (
            tally
            if tally is not None
            else Tally(key=pagination.key, total_header=pagination.total_header)
        )
        on_wait = _waiter(progress, request)
        total: list[int | None] = [None]
        if not pagination.enabled:
            page = self._page(request, 1, None, retry, timeout, expect, on_wait)
            page.items = tally.admit(1, page.items, page.headers)
            pages: Iterator[Page] = iter([page])
            total[0] = 1
        else:

            def get(number: int, url: str | None, query: Mapping[str, str] | None = None) -> Page:
                paged = _paged(request, pagination, number, url, query)
                return self._page(paged, number, url, retry, timeout, expect, on_wait)

            pages = paginate(
                get,
                pagination,
                tally=tally,
                query=dict(request.query),
                on_total=lambda n: total.__setitem__(0, n),
                concurrency=self.window(pagination),
            )
        items = 0
        with _task_scope(request):
            for done, page in enumerate(pages, start=1):
                items += len(page.items)
                if on_page is not None:
                    on_page(page)
                if progress is not None:
                    progress(ProgressEvent(request.task, done, total[0], items))
                yield page
            tally.finish()
            for warning in tally.warnings:
                log.warning("task %s: %s", request.task or request.url, warning)

    def window(self, pagination: Pagination) -> AdaptiveConcurrency | None:
        """A fresh adaptive window for one walk, or ``None`` when the task fixed its
        ``max_concurrency`` (a fixed setting always wins)."""
        if not pagination.adaptive:
            return None
        return AdaptiveConcurrency(
            ceiling=self.max_concurrency, headers=self.connection.rate_limit_headers
        )

    def _page(
        self,
        request: PreparedRequest,
        number: int,
        url: str | None,
        retry: RetryPolicy,
        timeout: Timeout,
        expect: Expect,
        on_wait: Callable[[float], None] | None,
    ) -> Page:
        """One page (or the one response), with retries; errors name the task."""
        with _task_scope(request):
            target, credentials = self._target(url or request.url)
            params = None if url else request.query
            wants_json = self._wants_json(request)
            attempts: list[Attempt] = []
            wire: list[Exchange] = []  # this page's current attempt, on this thread only

            def attempt() -> _Answer:
                wire.clear()
                with self.wire.collecting(wire):
                    raw = self._authed(
                        request,
                        target,
                        params,
                        timeout,
                        expect,
                        retry.max_wait,
                        on_wait,
                        credentials,
                    )
                body = decode_body(raw, strict=expect.accepts(raw.status))
                if expect.accepts(raw.status):
                    check_body(raw, body, expect, wants_json=wants_json)
                return _Answer(raw, body)

            answer: _Answer = call_with_retry(
                attempt,
                policy=replace(retry, rate_headers=self.connection.rate_limit_headers),
                method=request.method,
                clock=self.clock,
                attempts=attempts,
                rng=self.rng,
                page=number,
                on_wait=on_wait,
                task=request.task,
                wire=lambda: tuple(wire),
                on_attempt=self.on_attempt,
            )
            raw = answer.raw
            if not expect.accepts(raw.status):
                raise _status_error(request, raw, number)
            return Page(
                number=number,
                status=raw.status,
                reason=raw.reason,
                headers=dict(raw.headers),
                body=answer.body,
                items=extract_items(answer.body, expect.items_at),
                elapsed=sum(a.elapsed for a in attempts),
                url=raw.url,
                attempts=attempts,
            )

    def _authed(
        self,
        request: PreparedRequest,
        url: str,
        params: Any,
        timeout: Timeout,
        expect: Expect,
        max_wait: float,
        on_wait: Callable[[float], None] | None,
        credentials: bool = True,
    ) -> RawResponse:
        """The auth layer: add credentials; on a 401, get new ones and resend once.

        ``credentials=False`` (a URL on another origin than the connection's, see
        :meth:`_target`): no auth headers and none of the connection's own headers.
        """
        headers = self._headers(request, credentials)
        if not credentials:
            return self._wire(request, url, params, headers, timeout, expect, max_wait, on_wait)
        sent = {**headers, **self.auth.headers()}
        params = self._auth_params(params)
        raw = self._wire(request, url, params, sent, timeout, expect, max_wait, on_wait)
        if raw.status == 401 and self.auth.on_unauthorized(sent):
            log.info("connection %s: 401, sending once more with a new token", self.connection.name)
            sent = {**headers, **self.auth.headers()}
            raw = self._wire(request, url, params, sent, timeout, expect, max_wait, on_wait)
        return raw

    def _wire(
        self,
        request: PreparedRequest,
        url: str,
        params: Any,
        headers: Mapping[str, str],
        timeout: Timeout,
        expect: Expect,
        max_wait: float,
        on_wait: Callable[[float], None] | None,
    ) -> RawResponse:
        """The throttle around one transport call."""
        self.throttle.wait_turn(max_wait=max_wait, on_wait=on_wait)
        raw = self.wire.send(
            "request",
            request.method,
            url,
            params=params,
            headers=headers,
            json=request.body,
            timeout=timeout,
            max_body_bytes=expect.max_body_bytes,
            allowed_hosts=self.hosts,
            origin_headers=tuple(self.connection.headers),
        )
        self.throttle.observe(raw.status, raw.headers)
        log.debug("%s %s -> %d (%.3fs)", request.method, safe_url(url), raw.status, raw.elapsed)
        return raw

    def _headers(self, request: PreparedRequest, credentials: bool) -> dict[str, str]:
        """The request's headers before auth: the connection's own only with credentials."""
        if not credentials:
            return without_credentials({"Accept": "application/json", **request.headers})
        return {"Accept": "application/json", **self.connection.headers, **request.headers}

    def _auth_params(self, params: Any) -> Any:
        """``params`` plus the query parameters the auth adds (an API key in the query)."""
        auth_query = getattr(self.auth, "query", None)
        if auth_query is not None and (extra := auth_query()):
            return [*(params or ()), *extra]
        return params

    # --- what goes on the wire ------------------------------------------------------

    def preview(
        self, request: PreparedRequest, pagination: Pagination | None = None
    ) -> SentRequest:
        """The first request :meth:`fetch` sends, exactly as it goes on the wire (its
        first page's query, every header the layers below add), without sending anything.

        Auth that needs a round trip (OAuth) is not asked for a token: its header shows
        as ``Authorization: Bearer ***``; static credentials show as they are (redact
        before printing).
        """
        paged, url = _first_page(request, pagination)
        with _task_scope(paged):
            target, credentials = self._target(url or paged.url)
            params = None if url else paged.query
            headers = self._headers(paged, credentials)
            if credentials:
                if isinstance(self.auth, StaticAuth):
                    headers = {**headers, **self.auth.headers()}
                    params = self._auth_params(params)
                else:
                    headers = {**headers, "Authorization": f"Bearer {MASK}"}
            options = {"params": params, "headers": headers, "json": paged.body}
            return self.wire.describe(paged.method, target, options)

    def _wants_json(self, request: PreparedRequest) -> bool:
        """Whether the request asks for JSON (``Accept``, application/json by default)."""
        accept = "application/json"
        for headers in (self.connection.headers, request.headers):
            for name, value in headers.items():
                if name.lower() == "accept":
                    accept = str(value).lower()
        return "json" in accept

    def _target(self, url: str) -> tuple[str, bool]:
        """``(absolute URL, whether it may carry the connection's credentials)``.

        One rule for every URL the client is sent to (the request, a ``Link: next``), the
        same the transport applies to redirects: credentials go only to the origin of
        ``base_url`` (scheme, host and port, as browsers and requests' redirect handling
        compare them, RFC 6454). Another origin whose host is in ``allowed_hosts`` is
        reached without credentials (no auth, no connection headers, no cookies); any
        other origin is refused with :class:`HostNotAllowedError`.
        """
        absolute = urljoin(self.connection.base_url.rstrip("/") + "/", url)
        target = origin(absolute)
        if target == self.origin:
            return absolute, True
        if REDACTOR.contains_secret(absolute):
            raise HostNotAllowedError(
                f"{safe_url(absolute)} is on another origin than the connection "
                f"{self.connection.name}'s base_url and its URL carries a secret; not sent"
            )
        if target[1] in self.hosts:
            return absolute, False
        raise HostNotAllowedError(
            f"{safe_url(absolute)} is on host {target[1]}, which is not the connection "
            f"{self.connection.name}'s host or in its allowed_hosts; not followed (list the "
            "host in allowed_hosts to fetch it, without credentials)"
        )


def _paged(
    request: PreparedRequest,
    pagination: Pagination,
    number: int,
    url: str | None,
    query: Mapping[str, str] | None,
) -> PreparedRequest:
    """Page ``number``'s request, as the paginator asks for it (see ``GetPage``)."""
    if url:
        return request
    if query is None:
        return request.with_query(**{pagination.page_param: str(number)})
    return request.with_query(**query)


class _FirstPage(Exception):
    """Stops a paginator at its first request (see :func:`_first_page`)."""


def _first_page(
    request: PreparedRequest, pagination: Pagination | None
) -> tuple[PreparedRequest, str | None]:
    """``(request, next URL or None)`` of the paginator's first page, nothing sent: the
    paginator is asked, so the query is the one its first request carries."""
    if pagination is None or not pagination.enabled:
        return request, None
    asked: list[tuple[PreparedRequest, str | None]] = []

    def get(number: int, url: str | None, query: Mapping[str, str] | None = None) -> Page:
        asked.append((_paged(request, pagination, number, url, query), url))
        raise _FirstPage

    tally = Tally(key=pagination.key, total_header=pagination.total_header)
    with contextlib.suppress(_FirstPage, StopIteration):
        next(iter(paginate(get, pagination, tally=tally, query=dict(request.query))))
    return asked[0] if asked else (request, None)


def _task_scope(request: PreparedRequest) -> contextlib.AbstractContextManager[None]:
    """Errors raised inside name the request's task (when it belongs to one)."""
    return task_context(request.task) if request.task else contextlib.nullcontext()


def _waiter(
    progress: ProgressCallback | None, request: PreparedRequest
) -> Callable[[float], None] | None:
    if progress is None:
        return None

    def on_wait(seconds: float) -> None:
        progress(ProgressEvent(request.task, 0, None, 0, waiting=seconds))

    return on_wait


def _status_error(request: PreparedRequest, raw: RawResponse, number: int) -> HTTPStatusError:
    excerpt = REDACTOR.redact(raw.text[:EXCERPT_CHARS]).strip()
    where = f" (page {number})" if number > 1 else ""
    message = (
        f"{request.method} {safe_url(raw.url)}{where} answered {raw.status} {raw.reason}".rstrip()
    )
    if excerpt:
        message += f": {excerpt}"
    return HTTPStatusError(
        message,
        status=raw.status,
        reason=raw.reason,
        body_excerpt=excerpt,
        url=safe_url(raw.url),
        task=request.task,
    )
