"""The studio's security middleware (:class:`Guard`): the access token on every
request, CSRF-safe writes, and the ``Host`` check against DNS rebinding.

The token is compared in constant time (query ``token``, the ``HttpOnly;
SameSite=Strict`` cookie, or the ``X-Studio-Token`` header); a write (any method but
GET/HEAD) needs the header itself -- which a cross-site form cannot send -- and a
same-origin ``Origin``; the ``Host`` header must name this server. ``GET /?token=``
sets the cookie and redirects to ``/``, so the token leaves the address bar.
"""

from __future__ import annotations

import hmac
import re
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from task_runner.studio.responses import plain, secure

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from task_runner.studio.app import StudioConfig

__all__ = ["LOOPBACK_NAMES", "SAFE_METHODS", "TOKEN_HEADER", "Guard"]

TOKEN_HEADER = "x-studio-token"
SAFE_METHODS = frozenset({"GET", "HEAD"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class Guard:
    """ASGI middleware: the access token on every request, CSRF-safe writes, Host check."""

    def __init__(self, app: ASGIApp, config: StudioConfig) -> None:
        self.app = app
        self.config = config

    def _host_ok(self, host: str) -> bool:
        if self.config.host in ("0.0.0.0", "::"):
            return True
        name = re.sub(r":\d+$", "", host.strip().lower())
        allowed = LOOPBACK_NAMES | {self.config.host.lower()}
        if name not in allowed:
            return False
        port = host.rsplit(":", 1)[1] if re.search(r":\d+$", host) else None
        return self.config.port == 0 or port is None or port == str(self.config.port)

    def _token_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(
            (value or "").encode("utf-8"), self.config.token.encode("utf-8")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan; the app has no websocket routes
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(Request(scope))
        await (refusal or self.app)(scope, receive, send)

    def _refusal(self, request: Request) -> Response | None:
        """The answer that stops ``request`` here, or None to let it through."""
        if not self._host_ok(request.headers.get("host", "")):
            return plain(400, "unexpected Host header: open the studio by the URL it printed")
        query_token = request.query_params.get("token")
        header_token = request.headers.get(TOKEN_HEADER)
        cookie_token = request.cookies.get(self.config.cookie_name)
        if not any(self._token_ok(t) for t in (query_token, header_token, cookie_token)):
            return _refused()
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            same_origin = origin is None or _origin_host(origin) == request.headers.get("host")
            if not self._token_ok(header_token) or not same_origin:
                return plain(403, "a change needs the studio's token header from its own page")
        if self._token_ok(query_token) and request.method == "GET" and request.url.path == "/":
            return self._to_cookie()
        return None

    def _to_cookie(self) -> Response:
        """A redirect to ``/`` that keeps the token in an HttpOnly, SameSite cookie."""
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            self.config.cookie_name,
            self.config.token,
            httponly=True,
            samesite="strict",
            path="/",
        )
        return secure(response)


def _origin_host(origin: str) -> str:
    return re.sub(r"^[a-z]+://", "", origin.strip().lower()).rstrip("/")


def _refused() -> Response:
    page = (
        "<!doctype html><meta charset=utf-8><title>task-runner studio</title>"
        "<h1>Access token required</h1><p>Open the studio by the URL that "
        "<code>task-runner studio</code> printed in your terminal: it holds the token.</p>"
    )
    return secure(HTMLResponse(page, status_code=403))
