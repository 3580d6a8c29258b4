"""Configuration as small frozen value objects, built only from validated workflow YAML.

These are the contracts between the layers: the workflow loader builds them, the send
path (auth -> retry -> throttle -> paginate) and the executor consume them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "IDEMPOTENT_METHODS",
    "AuthConfig",
    "ConnectionConfig",
    "Expect",
    "Pagination",
    "PreparedRequest",
    "RateLimit",
    "RateLimitHeaders",
    "RetryPolicy",
    "Timeout",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True)
class Timeout:
    """Timeouts in seconds, all three always enforced on every request.

    ``connect`` and ``read`` bound each socket operation; ``total`` bounds the whole
    attempt (connect, headers and body), so a server that sends one byte a second
    cannot hold a request for longer. ``total=None``: the default for the kind of
    request (:attr:`DEFAULT_TOTAL`, never less than ``connect + read``; token requests
    use their own, see :mod:`task_runner.http.auth`)::

        Timeout(connect=5, read=30, total=120).deadline  # 120.0
        Timeout(read=600).deadline                       # 610.0: read wins
    """

    #: Five minutes: far above any sane page, far below "the run hangs".
    DEFAULT_TOTAL: ClassVar[float] = 300.0

    connect: float = 10.0
    read: float = 60.0
    total: float | None = None

    def as_requests(self) -> tuple[float, float]:
        return (self.connect, self.read)

    @property
    def deadline(self) -> float:
        """Seconds one attempt may take from connect to the last body byte."""
        if self.total is not None:
            return self.total
        return max(self.DEFAULT_TOTAL, self.connect + self.read)


@dataclass(frozen=True)
class RateLimitHeaders:
    """Which response headers carry an API's rate-limit budget (from its profile).

    ``reset_format``: ``unix_seconds`` (Procore, GitHub) or ``delta_seconds`` (the IETF
    ``RateLimit-Reset`` draft, seconds from now).
    """

    remaining: str = "X-Rate-Limit-Remaining"
    reset: str = "X-Rate-Limit-Reset"
    reset_format: Literal["unix_seconds", "delta_seconds"] = "unix_seconds"
    retry_after: str = "Retry-After"


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry one request.

    ``max_wait`` bounds a single server-requested wait (Retry-After, rate-limit reset):
    a longer one fails the task at once instead of hanging.
    """

    max_attempts: int = 5
    initial_interval: float = 1.0
    backoff_rate: float = 2.0
    max_interval: float = 60.0
    jitter: bool = True
    retry_on_status: frozenset[int] = frozenset({429, 502, 503, 504})
    retry_on_connection_errors: bool = True
    retry_non_idempotent: bool = False
    max_wait: float = 300.0
    rate_headers: RateLimitHeaders = field(default_factory=RateLimitHeaders)

    def backoff(self, attempt: int) -> float:
        """The un-jittered wait before attempt ``attempt + 1`` (attempt is 1-based)."""
        return min(self.max_interval, self.initial_interval * self.backoff_rate ** (attempt - 1))


@dataclass(frozen=True)
class Pagination:
    """How a task walks a listing: ``mode`` ``none`` (one request), ``all`` or ``pages``
    (at most ``max_pages``), and ``style``, the paginator that walks it (see
    :mod:`task_runner.http.paginators`): ``page`` (page number, ``Total``/``Per-Page``
    and ``Link`` headers), ``offset`` (offset/limit), ``cursor`` (a cursor from the body,
    e.g. ``has_more`` + ``starting_after``), ``next_url`` (the next page's URL in the
    body). The style and its parameter names come from the API profile and the
    operation's definition; a task may override any of them.

    ``key``: the item field that identifies an item; items repeated across pages are
    dropped (``None``: keep every item). ``on_mismatch``: what to do when the run cannot
    vouch for the listing (count against ``Total``, a listing that changed under the
    run, a looping ``Link``): ``warn`` (a warning in the result and on stderr) or
    ``fail`` (the task fails, exit 1, its JSONL output is not published). ``version``:
    the item field that changes on every update; a windowed task drops an item that an
    earlier, overlapping window delivered at the same ``key`` and ``version``.
    JSON pointers (``cursor_from``, ``has_more``, ``next_url``) point into a page's body.
    """

    mode: Literal["none", "all", "pages"] = "none"
    max_pages: int | None = None
    max_concurrency: int = 4
    #: No ``max_concurrency`` was set: the pages in flight follow the API instead
    #: (:mod:`task_runner.http.concurrency`), up to the connection's maximum.
    adaptive: bool = False
    style: str = "page"
    page_param: str = "page"
    per_page_param: str = "per_page"
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "starting_after"
    cursor_from: str = "/data/-1/id"
    has_more: str | None = None
    next_url: str = "/next"
    total_header: str = "Total"
    per_page_header: str = "Per-Page"
    key: str | None = "id"
    version: str | None = "updated_at"
    on_mismatch: Literal["warn", "fail"] = "warn"

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


@dataclass(frozen=True)
class RateLimit:
    """A client-side budget: at most ``requests`` per ``per`` seconds on a connection."""

    requests: int
    per: float


@dataclass(frozen=True)
class AuthConfig:
    """Rendered auth settings. Secret fields hold real values: never print this object."""

    type: str = "none"  # a registered auth kind (task_runner.http.auth_kinds)
    token: str | None = field(default=None, repr=False)
    token_url: str | None = None
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_store: str | None = None
    scope: str | None = None
    refresh_margin: float = 60.0
    token_timeout: float = 60.0  # seconds a whole token request may take
    key: str | None = field(default=None, repr=False)  # api_key
    key_in: Literal["header", "query"] = "header"
    key_name: str | None = None
    username: str | None = field(default=None, repr=False)  # http_basic
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ConnectionConfig:
    """One API connection: where to send, how to authenticate, how fast."""

    name: str
    base_url: str
    api: str | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    headers: Mapping[str, str] = field(default_factory=dict)
    verify: bool | str = True
    rate_limit: RateLimit | None = None
    max_concurrency: int = 4
    #: No ``max_concurrency`` was set: adaptive page walks may go up to
    #: :data:`task_runner.http.concurrency.CEILING` requests in flight.
    adaptive: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    rate_limit_headers: RateLimitHeaders = field(default_factory=RateLimitHeaders)
    max_body_bytes: int | None = None  # the default cap for its tasks' response bodies


#: The default cap on one response body, counted after decompression. Pages of a list
#: API are rarely over a few MB; 64 MiB leaves an order of magnitude of headroom for a
#: big single resource while keeping a run's memory bounded (the body, then its parsed
#: objects, for each page in flight) whatever a server sends.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Expect:
    """Which responses count as success, how big a body may be, and what a response
    must satisfy (status, headers, item schema, JSON-pointer predicates, item count).

    ``max_body_bytes``: the cap on the body as decoded (a gzip body counts at its
    expanded size); reading stops there with a clear error. There is no "unlimited".
    """

    status: frozenset[int] | None = None  # None: any 2xx
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    checks: tuple[Mapping[str, Any], ...] = ()
    #: ``list``: a success body must hold a JSON array at ``items_at`` (a list operation
    #: or a paginated task); ``any``: any JSON value (or any body when the request does
    #: not ask for JSON).
    items: Literal["any", "list"] = "any"
    #: Where the items are in a body: a JSON pointer (RFC 6901); ``""`` is the body itself.
    items_at: str = ""
    #: ``expect.headers``: a header name -> its predicates (``{matches: json}``), checked
    #: on the first page's headers by :mod:`task_runner.runner.checks`, like the rest below.
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ``expect.schema``: a JSON Schema every item must match, or ``"stored"``: the
    #: response schema ``test-request --save-schema`` saved for the task's operation.
    schema: Mapping[str, Any] | str | None = None
    #: ``expect.items: {min, max}``: bounds on how many items the task delivered.
    items_min: int | None = None
    items_max: int | None = None

    def accepts(self, status: int) -> bool:
        if self.status is None:
            return 200 <= status < 300
        return status in self.status


@dataclass(frozen=True)
class PreparedRequest:
    """One request, fully rendered and validated, ready for the send path.

    ``query`` is an ordered list of pairs, already in Procore's encoding
    (``filters[trade_ids][]`` repeated, booleans as ``true``/``false``).
    ``headers`` never include auth: the auth layer adds those when sending.
    """

    method: str
    url: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    task: str | None = None
    connection: str | None = None

    @property
    def idempotent(self) -> bool:
        return self.method.upper() in IDEMPOTENT_METHODS

    def full_url(self) -> str:
        from urllib.parse import urlencode

        if not self.query:
            return self.url
        sep = "&" if "?" in self.url else "?"
        return self.url + sep + urlencode(list(self.query))

    def with_query(self, **updates: str) -> PreparedRequest:
        """A copy with some query parameters replaced or added (e.g. ``page``)."""
        from dataclasses import replace

        query = [(k, v) for k, v in self.query if k not in updates]
        query.extend(updates.items())
        return replace(self, query=tuple(query))
