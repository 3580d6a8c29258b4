"""The emulator's HTTP request handler: routing, Procore-shaped answers, and faults.

One handler instance serves one keep-alive connection (HTTP/1.1); every response has a
``Content-Length`` so connections are reused. The state lives in the
:class:`~task_runner.emulator.server.Emulator` the handler class is bound to.
"""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from task_runner.emulator.faults import FaultRule
from task_runner.emulator.images import QueryError, parse_query, select, serialize
from task_runner.emulator.oauth import OAuthError, TokenInfo
from task_runner.emulator.stats import RequestRecord

if TYPE_CHECKING:
    from task_runner.emulator.server import Emulator

__all__ = ["EmulatorHandler"]

log = logging.getLogger("task_runner.emulator")

IMAGES_PATH = "/rest/v1.0/images"
TOKEN_PATH = "/oauth/token"
_REASONS = {502: "Bad Gateway", 504: "Gateway Timeout", 500: "Internal Server Error"}


class _Reply:
    """A response being built: status, headers, body."""

    def __init__(
        self, status: int, body: Any = b"", content_type: str = "application/json"
    ) -> None:
        self.status = status
        self.headers: dict[str, str] = {}
        if isinstance(body, (bytes, str)):
            self.body = body.encode() if isinstance(body, str) else body
        else:
            self.body = json.dumps(body, separators=(",", ":")).encode()
        self.content_type = content_type if self.body or status != 204 else ""


def _json_error(status: int, message: str) -> _Reply:
    return _Reply(status, {"errors": message})


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ProcoreEmulator/1.0"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this
    emulator: Emulator  # set on the per-server subclass

    # --- plumbing ---------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, method: str) -> None:
        self._sent = False
        files = self.emulator.files
        try:
            if files is not None and files.serves(self.headers.get("Host", "")):
                files.answer(self)  # the file host's name: image files, no API
                return
            self._route(method)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # a bug here must still answer, like a real 500
            log.exception("emulator failed on %s %s", method, self.path)
            self.close_connection = True
            if not self._sent:
                self._send(_json_error(500, "Internal Server Error"))

    def _route(self, method: str) -> None:
        self._start_mono, self._start_clock = time.monotonic(), self.emulator.clock()
        self._token_id: str | None = None
        self._index: int | None = None
        self._fault: FaultRule | None = None
        body = self._read_body()
        url = urlsplit(self.path)
        self._url = url
        if url.path == IMAGES_PATH and method == "GET":
            self._images(url.query)
        elif url.path == TOKEN_PATH and method == "POST":
            self._token_with_faults(body)
        elif url.path == "/oauth/token/info" and method == "GET":
            self._send(self._token_info())
        elif url.path == "/oauth/revoke" and method == "POST":
            self._send(self._revoke(body))
        else:
            self._send(_json_error(404, "Not Found"))

    def _record(self, status: int) -> None:
        self.emulator.stats.record(
            RequestRecord(
                time=self._start_mono,
                method=self.command,
                path=self._url.path,
                status=status,
                token_id=self._token_id,
                company_id=self.headers.get("Procore-Company-Id"),
                clock_time=self._start_clock,
                query=self._url.query,
                request_no=self._index,
                fault=str(self._fault) if self._fault else None,
                authorized="Authorization" in self.headers,
            )
        )

    def _send(self, reply: _Reply, *, send_bytes: int | None = None) -> None:
        """Write the reply; ``send_bytes`` sends only that much of the body, then closes."""
        self._sent = True
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if send_bytes is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self._record(reply.status)
        self.wfile.write(reply.body if send_bytes is None else reply.body[:send_bytes])

    def _reset_connection(self) -> None:
        """Close with TCP RST and no response (SO_LINGER on, timeout 0)."""
        self._record(0)
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    # --- OAuth ------------------------------------------------------------------------

    def _form(self, body: bytes) -> dict[str, str]:
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                raise OAuthError(
                    400, "invalid_request", "The request body is not valid JSON."
                ) from None
            if not isinstance(data, dict):
                raise OAuthError(400, "invalid_request", "The request body must be a JSON object.")
            return {str(k): str(v) for k, v in data.items() if v is not None}
        pairs = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in pairs.items()}

    def _basic_auth(self) -> tuple[str | None, str | None]:
        import base64

        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None, None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None, None
        return user, password

    def _token_with_faults(self, body: bytes) -> None:
        em = self.emulator
        self._index = em._next_index("token")
        rule = em.faults.pick(self._index, em.seed, "token")
        self._fault = rule
        if rule is None:
            self._send(self._token(body))
        elif rule.kind == "reset":
            self._reset_connection()
        elif rule.kind == "invalid-json":
            self._send(_Reply(200, b'{"access_token": '))
        elif rule.kind == "slow":
            em._sleep(rule.number("delay", 5.0) or 0.0)
            self._send(self._token(body))
        else:
            self._send(self._status_fault(rule))

    def _token(self, body: bytes) -> _Reply:
        em = self.emulator
        try:
            form = self._form(body)
            user, password = self._basic_auth()
            grant = form.get("grant_type")
            if grant not in ("client_credentials", "refresh_token"):
                raise OAuthError(
                    400, "unsupported_grant_type", "The authorization grant type is not supported."
                )
            em.tokens.check_client(form.get("client_id", user), form.get("client_secret", password))
            if grant == "client_credentials":
                result = em.tokens.client_credentials()
            else:
                result = em.tokens.refresh(form.get("refresh_token"))
        except OAuthError as exc:
            reply = _Reply(exc.status, exc.body())
            if exc.status == 401:
                reply.headers["WWW-Authenticate"] = 'Basic realm="Doorkeeper"'
            return reply
        em.stats.grant(grant)
        reply = _Reply(200, result)
        reply.headers["Cache-Control"] = "no-store"
        return reply

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _token_info(self) -> _Reply:
        token = self._bearer()
        info = self.emulator.tokens.lookup(token) if token else None
        if info is None:
            return self._unauthorized(token)
        self._token_id = info.token_id
        return _Reply(
            200,
            {
                "resource_owner_id": 3011,
                "scope": [],
                "expires_in": max(0, int(info.expires_at - self.emulator.clock())),
                "application": {"uid": info.client_id},
                "created_at": info.created_at,
            },
        )

    def _revoke(self, body: bytes) -> _Reply:
        token = self._form(body).get("token", "")
        self.emulator.tokens.revoke(token)
        return _Reply(200, {})

    def _unauthorized(self, token: str | None) -> _Reply:
        known = self.emulator.tokens.known(token) if token else None
        why = "The access token expired" if known else "The access token is invalid"
        if token is None:
            why = "No access token was sent"
        reply = _Reply(401, {"errors": why})
        reply.headers["WWW-Authenticate"] = (
            f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{why}"'
        )
        return reply

    # --- images -----------------------------------------------------------------------

    def _images(self, query: str) -> None:
        em = self.emulator
        self._index = em._next_index()
        rule = em.faults.pick(self._index, em.seed)
        self._fault = rule
        em._sleep(em.latency)
        if rule is None:
            self._send(self._images_reply(query))
        elif rule.kind == "reset":
            self._reset_connection()
        elif rule.kind == "slow":
            em._sleep(rule.number("delay", 5.0) or 0.0)
            self._send(self._images_reply(query))
        elif rule.kind == "expire-token":
            token = self._bearer()
            if token:
                em.tokens.expire(token)
            self._send(self._images_reply(query))
        else:
            self._images_fault(rule, query)

    def _images_fault(self, rule: FaultRule, query: str) -> None:
        if rule.status is not None:
            self._send(self._status_fault(rule))
        elif rule.kind == "redirect":
            self._send(self._redirect(rule))
        elif rule.kind == "invalid-json":
            self._send(_Reply(200, b'[{"id": 1, "filename": "IMG_0001.jpg",'))
        elif rule.kind == "truncate":
            reply = self._images_reply(query)
            cut = rule.number("bytes")
            cut = len(reply.body) // 2 if cut is None else min(int(cut), len(reply.body) - 1)
            self._send(reply, send_bytes=max(0, int(cut)))
        elif rule.kind == "oversize":
            reply = self._images_reply(query)
            reply.body += b" " * max(0, int(rule.number("bytes") or 0) - len(reply.body))
            self._send(reply)

    def _rate_key(self, info: TokenInfo) -> tuple[str, str | None]:
        return (info.client_id, self.headers.get("Procore-Company-Id"))

    def _status_fault(self, rule: FaultRule) -> _Reply:
        status = rule.status or 500
        em = self.emulator
        now = em.clock()
        if status == 429:
            reply = _Reply(429, "Rate limit exceeded\n", "text/plain; charset=utf-8")
        elif status == 503:
            reply = _json_error(503, "Service Unavailable")
        else:
            reply = _Reply(
                status,
                f"<html><body><h1>{status} {_REASONS[status]}</h1></body></html>",
                "text/html",
            )
        retry_after, retry_date = rule.number("retry-after"), rule.number("retry-after-date")
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        elif retry_date is not None:
            reply.headers["Retry-After"] = email.utils.formatdate(now + retry_date, usegmt=True)
        token = self._bearer()
        info = em.tokens.lookup(token) if token else None
        if info is not None and em.rate_limit_headers:
            self._token_id = info.token_id
            state = em.limiter.take(self._rate_key(info), spend=False)
            reply.headers.update(state.headers())
            if status == 429:
                wait = rule.number("reset", retry_after if retry_after is not None else retry_date)
                reply.headers["X-Rate-Limit-Remaining"] = "0"
                reply.headers["X-Rate-Limit-Reset"] = str(
                    int(now + (wait if wait is not None else 1))
                )
        return reply

    def _redirect(self, rule: FaultRule) -> _Reply:
        target = rule.param("to")
        if not target:
            port = self.emulator.port
            target = f"http://localhost:{port}{self.path}"
        status = int(rule.number("status", 302) or 302)
        reply = _Reply(status, {"errors": "Moved"})
        reply.headers["Location"] = target
        return reply

    def _images_reply(self, query: str) -> _Reply:
        em = self.emulator
        token = self._bearer()
        info = em.tokens.lookup(token) if token else None
        if info is None:
            return self._unauthorized(token)
        self._token_id = info.token_id
        state = em.limiter.take(self._rate_key(info))
        if not state.allowed:
            reply = _Reply(429, "Rate limit exceeded\n", "text/plain; charset=utf-8")
            if em.retry_after:
                reply.headers["Retry-After"] = str(max(1, state.reset - int(em.clock())))
        else:
            reply = self._images_answer(query)
        if em.rate_limit_headers:
            reply.headers.update(state.headers())
        return reply

    def _images_answer(self, query: str) -> _Reply:
        em = self.emulator
        company = self.headers.get("Procore-Company-Id")
        if not company:
            return _json_error(400, "Missing Procore-Company-Id header!")
        params = parse_qs(query, keep_blank_values=True)
        project_text = (params.get("project_id") or [""])[-1]
        if not project_text:
            return _json_error(400, "param is missing or the value is empty: project_id")
        denied = em._access_error(company, project_text)
        if denied is not None:
            return denied
        try:
            q = parse_query(int(project_text), params)
        except QueryError as exc:
            return _Reply(422, {"errors": str(exc)})
        items, total = select(em.data, q)
        reply = _Reply(200, serialize(em.data, items, q.view))
        self._pagination_headers(reply, query, q.page, q.per_page, total)
        return reply

    def _pagination_headers(
        self, reply: _Reply, query: str, page: int, per_page: int, total: int
    ) -> None:
        mode = self.emulator.pagination_headers
        last = max(1, -(-total // per_page))
        pairs = [
            (k, v)
            for k, v in parse_qsl(query, keep_blank_values=True)
            if k not in ("page", "per_page")
        ]
        base = f"http://{self.headers.get('Host') or self.emulator.host_port}{IMAGES_PATH}"

        def link(n: int, rel: str) -> str:
            return (
                f'<{base}?{urlencode([*pairs, ("page", n), ("per_page", per_page)])}>; rel="{rel}"'
            )

        links = [link(1, "first")]
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
        if mode != "next-only":
            links.append(link(last, "last"))
        reply.headers["Link"] = ", ".join(links)
        if mode in ("total", "both"):
            reply.headers["Total"] = str(total)
            reply.headers["Per-Page"] = str(per_page)
