"""Configuration as small frozen value objects, built only from validated workflow YAML.

These are the contracts between the layers: the workflow loader builds them, the send
path (auth -> retry -> throttle -> paginate) and the executor consume them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "IDEMPOTENT_METHODS",
    "AuthConfig",
    "ConnectionConfig",
    "Expect",
    "Pagination",
    "PreparedRequest",
    "RateLimit",
    "RetryPolicy",
    "Timeout",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True)
class Timeout:
    """Connect and read timeouts in seconds; both are always set on every request."""

    connect: float = 10.0
    read: float = 60.0

    def as_requests(self) -> tuple[float, float]:
        return (self.connect, self.read)


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

    def backoff(self, attempt: int) -> float:
        """The un-jittered wait before attempt ``attempt + 1`` (attempt is 1-based)."""
        return min(self.max_interval, self.initial_interval * self.backoff_rate ** (attempt - 1))


@dataclass(frozen=True)
class Pagination:
    """``mode``: ``none`` (one request), ``all`` or ``pages`` (at most ``max_pages``).

    ``key``: the item field that identifies an item; items repeated across pages are
    dropped (``None``: keep every item). ``on_mismatch``: what to do when the run cannot
    vouch for the listing (count against ``Total``, a listing that changed under the
    run, a looping ``Link``): ``warn`` (a warning in the result and on stderr) or
    ``fail`` (the task fails, exit 1, its JSONL output is not published). ``version``:
    the item field that changes on every update; a windowed task drops an item that an
    earlier, overlapping window delivered at the same ``key`` and ``version``.
    """

    mode: Literal["none", "all", "pages"] = "none"
    max_pages: int | None = None
    max_concurrency: int = 4
    page_param: str = "page"
    per_page_param: str = "per_page"
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

    type: Literal["none", "bearer", "oauth2_client_credentials", "oauth2_refresh_token"] = "none"
    token: str | None = field(default=None, repr=False)
    token_url: str | None = None
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_store: str | None = None
    scope: str | None = None
    refresh_margin: float = 60.0


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
    allowed_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Expect:
    """Which responses count as success."""

    status: frozenset[int] | None = None  # None: any 2xx
    max_body_bytes: int | None = None
    checks: tuple[Mapping[str, Any], ...] = ()
    #: ``list``: a success body must be a JSON array (a list operation or a paginated
    #: task); ``any``: any JSON value (or any body when the request does not ask for JSON).
    items: Literal["any", "list"] = "any"

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
