"""One job: say exactly what one request on the wire was, and what came back.

The transport reports the request as it put it on the wire (:class:`SentRequest`: the
method, the full URL with its query, every header in the order sent -- ``Host``,
``User-Agent``, ``Accept-Encoding`` and ``Connection`` included -- and the body bytes).
The client pairs it with the response or the error into an :class:`Exchange` and hangs
it on the :class:`~task_runner.http.retry.Attempt` that sent it, so the run result, the
recording and the HAR file are all built from one log and nothing is matched up later.

An exchange keeps secrets as they were sent (it lives in memory only);
:meth:`Exchange.to_dict` is the redacted, JSON-ready form that recordings hold.

Example::

    sent = transport.describe("GET", url, params=[("page", "1")], headers=headers)
    sent.url, sent.headers           # what send() would put on the wire, nothing sent
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from task_runner.redact import MASK, REDACTOR

if TYPE_CHECKING:
    from task_runner.http.transport import RawResponse, Transport

__all__ = ["Exchange", "SentRequest", "WireLog", "decoded_text", "iso_time"]

Headers = tuple[tuple[str, str], ...]


def iso_time(moment: float) -> str:
    """``2026-11-27T22:43:17.366Z``: how recordings and HAR files write a moment."""
    stamp = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SentRequest:
    """A request exactly as it goes on the wire (secrets unmasked: redact before showing)."""

    method: str
    url: str
    headers: Headers
    body: bytes | None = None

    @classmethod
    def of(
        cls,
        method: str,
        url: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> SentRequest:
        """A best-effort description from a transport's arguments, for transports that
        cannot say what they send (test doubles); the real transport describes itself."""
        full = url
        if params:
            full += ("&" if urlsplit(url).query else "?") + urlencode(list(params))
        body = None
        if json is not None:
            body = _json_bytes(json)
        elif data:
            body = urlencode(list(data.items())).encode()
        return cls(
            method.upper(), full, tuple((k, str(v)) for k, v in (headers or {}).items()), body
        )

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def body_text(self) -> str | None:
        if self.body is None:
            return None
        return self.body.decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        """The request as recordings keep it: secrets as ``***``, body as sent."""
        return {
            "method": self.method,
            "url": REDACTOR.redact(self.url),
            "query": [[k, REDACTOR.redact(v)] for k, v in self.query],
            "headers": REDACTOR.redact_headers(dict(self.headers)),
            "body": REDACTOR.redact(self.body_text) if self.body_text is not None else None,
        }


def _json_bytes(value: Any) -> bytes:
    # What requests sends for ``json=``: compact separators are NOT its default.
    return json.dumps(value, allow_nan=False).encode("utf-8")


def decoded_text(content: bytes, content_type: str) -> tuple[str, str | None]:
    """``(text, encoding)``: the body as text in its declared charset (UTF-8 when none),
    or base64 (``encoding="base64"``, as HAR writes binary content) when it is not text."""
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return content.decode(charset), None
    except (LookupError, UnicodeDecodeError):
        return base64.b64encode(content).decode("ascii"), "base64"


@dataclass(frozen=True)
class Exchange:
    """One request on the wire and its answer: a response, or the error that replaced it.

    ``purpose``: ``"request"`` (the task's own) or ``"token"`` (the auth layer's).
    ``redirects``: statuses of redirects followed on the way; ``request`` is then the
    last hop, the one that got this response.
    """

    request: SentRequest
    started_at: float
    elapsed: float
    purpose: str = "request"
    status: int | None = None
    reason: str = ""
    headers: Headers = ()
    content: bytes = b""
    url: str = ""
    redirects: tuple[int, ...] = ()
    error: str | None = None

    @classmethod
    def answered(
        cls, request: SentRequest, raw: RawResponse, started_at: float, purpose: str
    ) -> Exchange:
        return cls(
            request=request,
            started_at=started_at,
            elapsed=raw.elapsed,
            purpose=purpose,
            status=raw.status,
            reason=raw.reason,
            headers=tuple(raw.headers.items()),
            content=raw.content,
            url=raw.url,
            redirects=tuple(raw.history),
        )

    @classmethod
    def failed(
        cls,
        request: SentRequest,
        error: BaseException,
        started_at: float,
        elapsed: float,
        purpose: str,
    ) -> Exchange:
        what = str(error) or type(error).__name__
        return cls(request, started_at, elapsed, purpose, error=REDACTOR.redact(what))

    def response_header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def to_dict(self) -> dict[str, Any]:
        """The exchange as recordings keep it (and HAR is made from): secrets as ``***``,
        the response body as the text received (base64 when binary), never re-serialised."""
        request = self.request.to_dict()
        entry: dict[str, Any] = {
            "purpose": self.purpose,
            "started_at": iso_time(self.started_at),
            "method": request["method"],
            "url": request["url"],
            "query": request["query"],
            "request_headers": request["headers"],
            "request_body": request["body"],
            "status": self.status,
            "reason": self.reason,
            "response_headers": REDACTOR.redact_headers(dict(self.headers)),
            "mime_type": self.response_header("Content-Type") or "",
            "size": len(self.content) if self.status is not None else None,
            "elapsed": round(self.elapsed, 4),
            "redirects": list(self.redirects),
            "error": self.error,
        }
        if self.status is not None:
            text, encoding = decoded_text(self.content, entry["mime_type"])
            if encoding is None:
                entry["body_text"] = REDACTOR.redact(text)
            elif REDACTOR.contains_secret(self.content.decode("latin-1")):
                # base64 hides a secret from the text redactor: such a body is not kept
                text, encoding = MASK, None
                entry["body_text"] = text
            else:
                entry["body_text"] = text
            if encoding is not None:
                entry["body_encoding"] = encoding
        return entry


class WireLog:
    """One client's transport calls, each logged as an :class:`Exchange` of the attempt
    the calling thread is making (see :meth:`collecting`): pages fetched on several
    threads keep their own exchanges, and nothing is matched up afterwards.

    ``enabled=False`` (nobody keeps exchanges): calls go straight to the transport.
    """

    def __init__(
        self, transport: Transport, now: Callable[[], float], *, enabled: bool = True
    ) -> None:
        self.transport = transport
        self.now = now
        self.enabled = enabled
        self._local = threading.local()

    @contextlib.contextmanager
    def collecting(self, wire: list[Exchange]) -> Iterator[None]:
        """Exchanges made on this thread go to ``wire`` (one attempt's) meanwhile: the
        token request the auth layer makes on the attempt's behalf included."""
        outer = getattr(self._local, "wire", None)
        self._local.wire = wire
        try:
            yield
        finally:
            self._local.wire = outer

    def send(self, purpose: str, method: str, url: str, **options: Any) -> RawResponse:
        """``transport.send(method, url, **options)``, logged: the request as the transport
        put it on the wire, and the response or the error."""
        if not self.enabled:
            return self.transport.send(method, url, **options)
        started, clock = self.now(), time.perf_counter()
        try:
            raw = self.transport.send(method, url, **options)
        except Exception as exc:
            sent = self.describe(method, url, options)
            self._log(Exchange.failed(sent, exc, started, time.perf_counter() - clock, purpose))
            raise
        sent = raw.sent or self.describe(method, url, options)
        self._log(Exchange.answered(sent, raw, started, purpose))
        return raw

    def describe(self, method: str, url: str, options: Mapping[str, Any]) -> SentRequest:
        """What the transport puts on the wire for these arguments (asked, not sent)."""
        fields = {k: options.get(k) for k in ("params", "headers", "json", "data")}
        describe = getattr(self.transport, "describe", None)
        if describe is not None:
            with contextlib.suppress(Exception):  # an invalid URL: the send says why
                return describe(method, url, **fields)  # type: ignore[no-any-return]
        return SentRequest.of(method, url, **fields)

    def transport_for(self, purpose: str) -> _LoggedTransport:
        """A :class:`Transport` whose calls are logged as ``purpose`` (the auth layer's)."""
        return _LoggedTransport(self, purpose)

    def _log(self, exchange: Exchange) -> None:
        wire = getattr(self._local, "wire", None)
        if wire is not None:
            wire.append(exchange)


class _LoggedTransport:
    def __init__(self, log: WireLog, purpose: str) -> None:
        self.log, self.purpose = log, purpose

    def send(self, method: str, url: str, **options: Any) -> RawResponse:
        """:meth:`Transport.send` (same ``options``), logged with the attempt it serves."""
        return self.log.send(self.purpose, method, url, **options)

    def close(self) -> None:
        self.log.transport.close()
