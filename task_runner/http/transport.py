"""One job: move bytes over HTTP. No retries, no auth logic, no pagination.

:class:`RequestsTransport` keeps ONE ``requests.Session`` per connection (keep-alive, a
pool sized to the connection's concurrency, proxies from the environment, TLS verified
or checked against a CA bundle). requests prepares each request (URL and query encoding,
headers, JSON or form body) and its ``HTTPAdapter`` picks the urllib3 connection pool
(TLS settings, proxy managers); the request then goes straight to that pool's
``urlopen``, skipping requests' ``Session.send`` and ``Response`` layers (hooks, cookie
extraction, redirect machinery), which cost about 0.2 ms of CPU per request and which
this transport does not use (it follows redirects itself, and keeps no cookies). Every attempt is bounded, whatever the server does:
in size (``max_body_bytes``, counted after decompression, so a gzip bomb stops at the
cap), in time (``timeout.total`` over connect, headers and body, enforced by a
:class:`~task_runner.http.deadline.Watchdog` even against a server that drips one byte
a second) and in JSON depth (:data:`~task_runner.http.json_depth.MAX_JSON_DEPTH`).
It turns every way a response can get lost (reset, timeout, truncated body) into a
retryable :class:`~task_runner.http.faults.ConnectionFault`, and follows redirects
itself: see :meth:`RequestsTransport.send` for why.

Example::

    transport = RequestsTransport(verify=True, pool_size=4)
    raw = transport.send("GET", "https://api.example.com/items", timeout=Timeout())
    raw.status, raw.json()
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

import task_runner
from task_runner import jsonfast
from task_runner.errors import TransportError
from task_runner.http.deadline import Deadline, DeadlineAdapter, Watchdog
from task_runner.http.exchange import SentRequest
from task_runner.http.faults import (
    BodyTooDeepError,
    BodyTooLargeError,
    ConnectionFault,
    DeadlineExceeded,
    InvalidBodyError,
    RedirectRefusedError,
)
from task_runner.http.json_depth import MAX_JSON_DEPTH, nesting_exceeds
from task_runner.http.links import LinkHeaderError, links_by_rel
from task_runner.model import DEFAULT_MAX_BODY_BYTES, Timeout
from task_runner.redact import REDACTOR, SENSITIVE_HEADERS

__all__ = [
    "USER_AGENT",
    "RawResponse",
    "RequestsTransport",
    "Transport",
    "origin",
    "parse_links",
    "safe_url",
    "without_credentials",
]

log = logging.getLogger("task_runner.http")

USER_AGENT = f"task-runner/{task_runner.__version__}"
MAX_REDIRECTS = 5
#: Bodies are read (and decompressed) this much at a time. urllib3 2.6+ decompresses
#: no more than asked for, so a gzip bomb can never expand past the cap by more than
#: one chunk; older urllib3 inflates a whole network read at once (up to ~1000x).
CHUNK_SIZE = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Headers that must never be sent to a host other than the one they were meant for.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")

QueryPairs = Sequence[tuple[str, str]]


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with default ports filled in, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port)


def parse_links(value: str | None, base_url: str | None = None) -> dict[str, str]:
    """An RFC 8288 ``Link`` header as ``{rel: url}`` (first link per relation wins),
    relative targets resolved against ``base_url``; ``{}`` when absent or malformed.

    :func:`task_runner.http.links.links_by_rel` raises on a malformed header instead.
    """
    try:
        return links_by_rel(value, base_url=base_url)
    except LinkHeaderError:
        return {}


@dataclass
class RawResponse:
    """A fully read response. ``headers`` are case-insensitive."""

    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    content: bytes
    url: str
    elapsed: float = 0.0
    history: list[int] = field(default_factory=list)
    max_json_depth: int = MAX_JSON_DEPTH
    #: The request exactly as it went on the wire (the last hop after redirects), when
    #: the transport can say; see :meth:`RequestsTransport.describe`.
    sent: SentRequest | None = None

    @property
    def text(self) -> str:
        return self.content.decode(_charset(self.headers), errors="replace")

    @property
    def links(self) -> dict[str, str]:
        return parse_links(self.headers.get("Link"), base_url=self.url)

    @property
    def is_json(self) -> bool:
        return "json" in self.headers.get("Content-Type", "").lower()

    def json(self) -> Any:
        """The body parsed as JSON, or :class:`InvalidBodyError` saying where it broke
        (:class:`BodyTooDeepError` when it nests deeper than ``max_json_depth``).

        The one place response JSON is decoded: what is shown, recorded or written
        later was decoded here, so it is never too deep to walk.
        """
        if nesting_exceeds(self.content, self.max_json_depth):
            raise self._too_deep()
        try:
            return jsonfast.loads(self.content)
        except RecursionError:  # json's own, when the caller's stack is already deep
            raise self._too_deep() from None
        except ValueError as exc:
            size = len(self.content)
            raise InvalidBodyError(
                f"the {self.status} response from {safe_url(self.url)} is not valid JSON "
                f"({exc}; {size} bytes)"
            ) from None

    def _too_deep(self) -> BodyTooDeepError:
        return BodyTooDeepError(
            f"the {self.status} response from {safe_url(self.url)} nests JSON arrays and "
            f"objects more than {self.max_json_depth} levels deep; not decoded",
            hint="max_json_depth is a fixed safety limit: deeper data would exhaust the "
            "stack of whatever walks it; no real API nests this deep",
        )


class Transport(Protocol):
    """What the send path needs from HTTP; tests may wrap it to inject faults."""

    def send(
        self,
        method: str,
        url: str,
        *,
        params: QueryPairs | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        timeout: Timeout,
        max_body_bytes: int | None = None,
        allowed_hosts: frozenset[str] = frozenset(),
        origin_headers: Collection[str] = (),
    ) -> RawResponse: ...

    def close(self) -> None: ...


class RequestsTransport:
    """A ``requests.Session`` with a pool of ``pool_size`` connections per host."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        pool_size: int = 4,
        user_agent: str = USER_AGENT,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        session = requests.Session()
        # No urllib3 retries: the retry layer decides, records and paces every attempt.
        # pool_block: more threads than the pool wait for a connection instead of
        # opening throwaway ones that defeat keep-alive.
        adapter = DeadlineAdapter(
            pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0, pool_block=True
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self.adapter = adapter
        # The environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) is read here, once
        # per connection, as httpx does, instead of on every request as requests does;
        # that also keeps ~/.netrc credentials from being attached to API requests.
        session.trust_env = False
        if verify is True:
            verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
        session.verify = verify
        session.headers["User-Agent"] = user_agent
        # No cookie jar: cookies are scoped by host, not by origin (RFC 6265 section 8.5),
        # so a jar would hand the API's cookies to another port or scheme of the same
        # host; a scheduled API client keeps no server-set state between requests.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.session = session
        self.watchdog = Watchdog()
        self.max_json_depth = max_json_depth
        self._proxies: dict[tuple[str, str, int | None], dict[str, str]] = {}

    def proxies_for(self, url: str) -> dict[str, str]:
        """The environment's proxies for ``url``'s origin (NO_PROXY honoured), cached."""
        key = origin(url)
        proxies = self._proxies.get(key)
        if proxies is None:
            proxies = dict(get_environ_proxies(url, no_proxy=None))
            self._proxies[key] = proxies
        return proxies

    def close(self) -> None:
        self.watchdog.close()
        self.session.close()

    def describe(
        self,
        method: str,
        url: str,
        *,
        params: QueryPairs | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> SentRequest:
        """The request :meth:`send` would put on the wire (before any redirect), byte for
        byte, without sending it: the same preparation, so the same headers
        (``User-Agent``, ``Accept-Encoding``, ``Connection`` from the session, ``Host``
        from the URL), the same query encoding and the same body."""
        return _sent_request(self._prepare(method, url, params, headers or {}, json, data))

    def _prepare(
        self,
        method: str,
        url: str,
        params: QueryPairs | None,
        headers: Mapping[str, str],
        json: Any,
        data: Mapping[str, str] | None,
    ) -> requests.PreparedRequest:
        # What Session.prepare_request does, less what this transport never uses
        # (session cookies: none are kept; auth: added by the auth layer; netrc: off):
        # the session's headers under the request's, then requests' own preparation.
        # describe() and _send_once() share it, so what is reported is what is sent.
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(self.session.headers)
        merged.update(headers)
        for name in [k for k, v in merged.items() if v is None]:
            del merged[name]
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method.upper(),
            url=url,
            headers=merged,
            json=json,
            data=data or {},
            params=list(params) if params else {},
            hooks=default_hooks(),
        )
        return prepared

    def send(
        self,
        method: str,
        url: str,
        *,
        params: QueryPairs | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        timeout: Timeout,
        max_body_bytes: int | None = None,
        allowed_hosts: frozenset[str] = frozenset(),
        origin_headers: Collection[str] = (),
    ) -> RawResponse:
        """Send one request and read its body, following redirects by hand.

        requests would follow redirects itself and strips ``Authorization`` when the
        host changes, but it keeps other headers and follows to ANY host. We follow
        only same-origin redirects with all headers; a redirect to another host is
        followed only when that host is in ``allowed_hosts``, and then without
        credential headers nor ``origin_headers`` (names of the connection's own headers,
        such as ``Procore-Company-Id``, which go only to the connection's origin); any
        other redirect is refused with a clear error.

        The whole call, redirects included, must end within ``timeout.deadline``; each
        body may have at most ``max_body_bytes`` decoded bytes (``None``:
        :data:`~task_runner.model.DEFAULT_MAX_BODY_BYTES`; there is no unlimited).
        """
        start_origin = origin(url)
        send_headers = dict(headers or {})
        cap = DEFAULT_MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
        history: list[int] = []
        with self.watchdog.deadline(timeout.deadline) as deadline:
            for _ in range(MAX_REDIRECTS + 1):
                raw = self._send_once(
                    method, url, params, send_headers, json, data, timeout, cap, deadline
                )
                location = raw.headers.get("Location")
                if raw.status not in REDIRECT_STATUSES or not location:
                    raw.history = history
                    return raw
                history.append(raw.status)
                target = urljoin(raw.url, location)
                if origin(target) != start_origin:
                    if origin(target)[1] not in allowed_hosts:
                        raise RedirectRefusedError(
                            f"{method} {safe_url(url)} was redirected ({raw.status}) to another "
                            f"host, {origin(target)[1]}; not followed (add the host to the "
                            "connection's allowed_hosts to follow it without credentials)"
                        )
                    own = {name.lower() for name in origin_headers}
                    send_headers = without_credentials(
                        {k: v for k, v in send_headers.items() if k.lower() not in own}
                    )
                if raw.status == 303 or (
                    raw.status in (301, 302) and method not in ("GET", "HEAD")
                ):
                    method, json, data = "GET", None, None
                url, params = target, None  # the Location carries its own query
            raise TransportError(f"{method} {safe_url(url)}: more than {MAX_REDIRECTS} redirects")

    def _send_once(
        self,
        method: str,
        url: str,
        params: QueryPairs | None,
        headers: Mapping[str, str],
        json: Any,
        data: Mapping[str, str] | None,
        timeout: Timeout,
        cap: int,
        deadline: Deadline,
    ) -> RawResponse:
        started = time.perf_counter()
        where = f"{method} {safe_url(url)}"
        try:
            prepared = self._prepare(method, url, params, headers, json, data)
            resp = self._urlopen(prepared, self.proxies_for(url), timeout)
        except (requests.exceptions.RequestException, HTTPError, OSError) as exc:
            if deadline.expired:
                raise _late(where, deadline, "waiting for the response headers") from None
            raise _request_fault(where, exc, timeout) from None
        try:
            content = _read_body(resp, where, cap, timeout, deadline)
        except BaseException:
            resp.close()  # a body not read to its end: the connection cannot be reused
            raise
        finally:
            # Before the connection goes back to the pool, where another thread may take it.
            deadline.detach()
            resp.release_conn()
        return RawResponse(
            status=resp.status,
            reason=resp.reason or "",
            headers=CaseInsensitiveDict(resp.headers),
            content=content,
            url=str(prepared.url),
            elapsed=time.perf_counter() - started,
            max_json_depth=self.max_json_depth,
            sent=_sent_request(prepared),
        )

    def _urlopen(
        self, prepared: requests.PreparedRequest, proxies: Mapping[str, str], timeout: Timeout
    ) -> urllib3.BaseHTTPResponse:
        """Send ``prepared`` on the pool requests' adapter picks (TLS context, proxy
        manager), as ``HTTPAdapter.send`` does, without building a requests ``Response``."""
        adapter, verify = self.adapter, self.session.verify
        try:
            pool = adapter.get_connection_with_tls_context(prepared, verify, proxies=dict(proxies))
        except LocationValueError as exc:
            raise requests.exceptions.InvalidURL(exc) from None
        adapter.cert_verify(pool, str(prepared.url), verify, None)
        connect, read = timeout.as_requests()
        assert isinstance(pool, urllib3.HTTPConnectionPool)  # HTTPS pools are a subclass
        return pool.urlopen(
            method=str(prepared.method),
            url=adapter.request_url(prepared, dict(proxies)),
            body=prepared.body,
            headers=prepared.headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=adapter.max_retries,
            timeout=urllib3.Timeout(connect=connect, read=read),
            chunked=not (prepared.body is None or "Content-Length" in prepared.headers),
        )


def _sent_request(prepared: requests.PreparedRequest) -> SentRequest:
    """A prepared request as the wire carries it: ``Host`` first (http.client adds it from
    the URL, leaving out a default port), then the headers in the order requests sends."""
    parts = urlsplit(prepared.url or "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port and parts.port != {"http": 80, "https": 443}.get(parts.scheme.lower()):
        host = f"{host}:{parts.port}"
    headers = [(str(k), str(v)) for k, v in prepared.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", host))
    body = prepared.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    return SentRequest(
        method=str(prepared.method or "GET"),
        url=str(prepared.url or ""),
        headers=tuple(headers),
        body=body if isinstance(body, bytes) else None,
    )


def _request_fault(where: str, exc: Exception, timeout: Timeout) -> TransportError:
    """What went wrong before the response headers arrived, as one of our errors.

    ``exc`` is what requests' preparation raises (an invalid URL) or what urllib3 raises
    while sending (wrapped in ``MaxRetryError`` when connecting failed).
    """
    cause = exc.reason if isinstance(exc, MaxRetryError) and exc.reason is not None else exc
    if isinstance(cause, (SSLError, requests.exceptions.SSLError)):
        return TransportError(
            f"{where}: TLS verification failed ({_short(cause)})",
            hint="set the connection's verify to a CA bundle path if the server uses a private CA",
        )
    invalid = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)
    if isinstance(cause, (*invalid, LocationValueError)):
        return TransportError(f"{where}: invalid URL ({_short(cause)})")
    if isinstance(cause, ConnectTimeoutError) and not isinstance(cause, NewConnectionError):
        return ConnectionFault(f"{where}: connect timeout after {timeout.connect:g}s")
    if isinstance(cause, ReadTimeoutError):
        return ConnectionFault(f"{where}: read timeout after {timeout.read:g}s")
    if isinstance(cause, ProxyError):
        return ConnectionFault(f"{where}: connection to the proxy failed ({_short(cause)})")
    return ConnectionFault(f"{where}: connection failed ({_short(exc)})")


def _late(where: str, deadline: Deadline, doing: str) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"{where}: did not finish within the {deadline.seconds:g}s total timeout, still {doing}",
        limit=deadline.seconds,
        hint="raise timeout.total if the server is really this slow",
    )


def _read_body(
    resp: urllib3.BaseHTTPResponse, where: str, cap: int, timeout: Timeout, deadline: Deadline
) -> bytes:
    """Read the body in chunks, stopping at ``cap`` decoded bytes; a short body is a
    retryable fault, and so is a body still arriving at the deadline."""
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise BodyTooLargeError(
            f"{where}: the response body ({declared} bytes) is larger than the "
            f"max_body_bytes cap of {cap} bytes{_in_units(cap)}; not read",
            hint=_RAISE_CAP,
        )
    chunks: list[bytes] = []
    total = 0
    try:
        # decode_content: gzip/deflate are decoded as read, so the cap counts the bytes
        # as they expand (urllib3 2.6+ never inflates more than it was asked for).
        for chunk in resp.stream(CHUNK_SIZE, decode_content=True):
            total += len(chunk)
            if total > cap:
                encoding = resp.headers.get("Content-Encoding", "").strip()
                expanded = f" once decompressed ({encoding})" if encoding else ""
                raise BodyTooLargeError(
                    f"{where}: the response body is larger{expanded} than the max_body_bytes "
                    f"cap of {cap} bytes{_in_units(cap)}; stopped reading",
                    hint=_RAISE_CAP,
                )
            chunks.append(chunk)
    except (HTTPError, OSError) as exc:
        if deadline.expired:
            raise _late(where, deadline, "reading the body") from None
        raise _body_fault(where, exc, total, timeout) from None
    if deadline.expired:  # the cut may look like the end of a body without a length
        raise _late(where, deadline, "reading the body")
    return b"".join(chunks)


_RAISE_CAP = "raise expect.max_body_bytes for the task, or in defaults.expect"


def _body_fault(where: str, exc: Exception, total: int, timeout: Timeout) -> ConnectionFault:
    """What went wrong while the body was arriving (urllib3's errors), as a retryable fault."""
    if isinstance(exc, ProtocolError):  # a short body, a broken chunk, a reset
        return ConnectionFault(
            f"{where}: the response body was cut off after {total} bytes ({_short(exc)})"
        )
    if isinstance(exc, (ReadTimeoutError, SSLError, OSError)):
        return ConnectionFault(
            f"{where}: the connection broke while reading the body after {total} bytes "
            f"(read timeout {timeout.read:g}s; {_short(exc)})"
        )
    if isinstance(exc, DecodeError):
        return ConnectionFault(f"{where}: the response body could not be decoded ({_short(exc)})")
    return ConnectionFault(f"{where}: reading the body failed ({_short(exc)})")


def _in_units(n: int) -> str:
    """`` (64 MiB)`` for 67108864: the unit people think of limits in."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f" ({n / scale:g} {unit})"
    return ""


def without_credentials(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` less what may be a credential: headers sensitive by name
    (``Authorization``, ``Cookie``, ``X-Api-Key``...) and any header carrying a secret.

    What a request to another origin (a redirect, a ``Link: next``) is sent with.
    """
    return {
        k: v
        for k, v in headers.items()
        if k.lower() not in CREDENTIAL_HEADERS
        and k.lower() not in SENSITIVE_HEADERS
        and not REDACTOR.contains_secret(str(v))
    }


def _charset(headers: Mapping[str, str]) -> str:
    content_type = headers.get("Content-Type", "")
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:  # a charset Python does not know is read as UTF-8, never a traceback
                return codecs.lookup(value.strip('"')).name
            except LookupError:
                return "utf-8"
    return "utf-8"


def safe_url(url: str) -> str:
    """The URL for messages, redacted and without what may hold secrets: its query and
    any ``user:password@`` (requests sends those as basic auth; nobody registered them)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return REDACTOR.redact(f"{parts.scheme}://{host}{parts.path}")


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _short(exc: BaseException) -> str:
    """A one-line, redacted exception text.

    urllib3 nests its reasons ("HTTPConnectionPool(...): Max retries exceeded ... (Caused by
    NewConnectionError(... [Errno 111] Connection refused))"); the OS's reason at the
    bottom is what a person needs.
    """
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    found = _ERRNO.findall(text)
    if found:
        text = found[-1].strip().rstrip(".")
    return REDACTOR.redact(text[:300])
