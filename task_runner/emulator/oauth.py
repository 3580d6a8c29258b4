"""The emulator's OAuth 2.0 token endpoint state: access tokens and rotating refresh tokens.

Like Procore: ``client_credentials`` returns an access token only; ``refresh_token``
returns a new pair and invalidates the refresh token it spent at once, even if the
client never sees the response. Tokens are random strings; each also gets a short,
non-secret ``token_id`` (``t1``, ``t2``...) for the request log.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["OAuthError", "TokenInfo", "TokenStore"]


class OAuthError(Exception):
    """An RFC 6749 error response: ``status`` and ``{"error": code, ...}``."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description

    def body(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}


@dataclass
class TokenInfo:
    token_id: str
    client_id: str
    created_at: int
    expires_at: float
    revoked: bool = False


class TokenStore:
    """Thread-safe issue, check, rotate and expire."""

    def __init__(
        self, client_id: str, client_secret: str, ttl: int, clock: Callable[[], float]
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.ttl, self.clock = ttl, clock
        self._lock = threading.Lock()
        self._access: dict[str, TokenInfo] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> client id (unspent only)
        self._spent: set[str] = set()
        self._counter = 0

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.client_id or client_secret != self.client_secret:
            raise OAuthError(
                401,
                "invalid_client",
                "Client authentication failed due to unknown "
                "client, no client authentication included, or unsupported method.",
            )

    def _new_access(self, client_id: str) -> tuple[str, TokenInfo]:
        self._counter += 1
        now = self.clock()
        info = TokenInfo(f"t{self._counter}", client_id, int(now), now + self.ttl)
        token = secrets.token_hex(24)
        self._access[token] = info
        return token, info

    def _response(self, token: str, info: TokenInfo, refresh: str | None) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.ttl,
            "created_at": info.created_at,
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return body

    def client_credentials(self) -> dict[str, object]:
        with self._lock:
            token, info = self._new_access(self.client_id)
            return self._response(token, info, None)

    def issue_refresh_token(self) -> str:
        """A refresh token as the authorization-code flow would have left it."""
        with self._lock:
            refresh = secrets.token_hex(24)
            self._refresh[refresh] = self.client_id
            return refresh

    def refresh(self, refresh_token: str | None) -> dict[str, object]:
        with self._lock:
            owner = self._refresh.pop(refresh_token or "", None)
            if owner is None:
                why = "was already used" if refresh_token in self._spent else "is invalid"
                raise OAuthError(
                    400,
                    "invalid_grant",
                    f"The provided refresh token {why}, "
                    "expired, revoked, or was issued to another client.",
                )
            self._spent.add(refresh_token or "")
            token, info = self._new_access(owner)
            new_refresh = secrets.token_hex(24)
            self._refresh[new_refresh] = owner
            return self._response(token, info, new_refresh)

    def lookup(self, token: str) -> TokenInfo | None:
        """The live token's info, or ``None`` when unknown, expired or revoked."""
        with self._lock:
            info = self._access.get(token)
        if info is None or info.revoked or self.clock() >= info.expires_at:
            return None
        return info

    def known(self, token: str) -> TokenInfo | None:
        with self._lock:
            return self._access.get(token)

    def expire(self, token: str | None = None) -> int:
        """Expire one access token, or all of them; returns how many."""
        with self._lock:
            targets = [self._access[token]] if token in self._access else []
            if token is None:
                targets = list(self._access.values())
            now = self.clock()
            for info in targets:
                info.expires_at = min(info.expires_at, now)
            return len(targets)

    def revoke(self, token: str) -> None:
        with self._lock:
            if token in self._access:
                self._access[token].revoked = True
            self._refresh.pop(token, None)
