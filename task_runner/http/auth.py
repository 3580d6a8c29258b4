"""One job: put credentials on requests, and get new ones when they run out.

Auth types are registered by name with :func:`register_auth`, so adding one (an API
key header, say) needs no change elsewhere::

    @register_auth("api_key")
    def _api_key(config: AuthConfig, ctx: AuthContext) -> Auth:
        return StaticAuth({"X-Api-Key": config.token or ""})

Built in: ``none``, ``bearer``, ``oauth2_client_credentials`` (token cached until
``refresh_margin`` before ``expires_in``, fetched again once on a 401) and
``oauth2_refresh_token`` (rotating single-use refresh tokens: lock the store, re-read
it, refresh, SAVE the new refresh token, only then use the new access token).
Every secret and token is registered with the redactor the moment it is known.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from task_runner.errors import AuthError, TaskRunnerError
from task_runner.http.clock import Clock
from task_runner.http.faults import (
    ConnectionFault,
    DeadlineExceeded,
    TokenDeadlineExceeded,
    TokenEndpointUnavailable,
)
from task_runner.http.tokens import (
    AccessToken,
    FileTokenStore,
    LockFactory,
    StoredTokens,
    TokenCache,
    TokenStore,
    default_token_store_path,
)
from task_runner.http.transport import Transport, safe_url
from task_runner.model import AuthConfig, Timeout
from task_runner.redact import REDACTOR

__all__ = [
    "AUTH_TYPES",
    "Auth",
    "AuthContext",
    "StaticAuth",
    "bearer_of",
    "make_auth",
    "register_auth",
    "request_token",
]

log = logging.getLogger("task_runner.http")

TOKEN_BODY_CAP = 1024 * 1024
#: The deadline of a token request whose timeout sets no ``total`` of its own: a token
#: answer is small, and every request of the connection waits for it.
TOKEN_TOTAL_TIMEOUT = 60.0
EXCERPT_CHARS = 300


class Auth(Protocol):
    """Credentials for one connection; shared by threads, so implementations lock."""

    def headers(self) -> dict[str, str]:
        """Headers to add to the next request (fetching a token first if needed)."""
        ...

    def on_unauthorized(self, sent: Mapping[str, str]) -> bool:
        """A request sent with ``sent`` got a 401: True if new credentials are ready."""
        ...


@dataclass
class AuthContext:
    """What auth types may use: where to send token requests and where to keep tokens."""

    connection: str
    transport: Transport
    clock: Clock
    token_cache: TokenCache
    locks: LockFactory
    token_store: TokenStore | None = None
    timeout: Timeout = field(
        default_factory=lambda: Timeout(connect=10.0, read=30.0, total=TOKEN_TOTAL_TIMEOUT)
    )


AuthFactory = Callable[[AuthConfig, AuthContext], Auth]
AUTH_TYPES: dict[str, AuthFactory] = {}


def register_auth(name: str) -> Callable[[AuthFactory], AuthFactory]:
    """Register an auth type under ``name`` (the ``auth.type`` value in workflows)."""

    def decorate(factory: AuthFactory) -> AuthFactory:
        AUTH_TYPES[name] = factory
        return factory

    return decorate


def make_auth(config: AuthConfig, ctx: AuthContext) -> Auth:
    from task_runner.http.auth_kinds import kind

    kind(config.type)  # the built-in kinds register themselves on first use
    for secret in (
        config.token,
        config.client_secret,
        config.refresh_token,
        config.key,
        config.password,
    ):
        REDACTOR.add(secret)
    try:
        factory = AUTH_TYPES[config.type]
    except KeyError:
        known = ", ".join(sorted(AUTH_TYPES))
        raise AuthError(f"unknown auth type {config.type!r} (known: {known})") from None
    return factory(config, ctx)


def bearer_of(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


class StaticAuth:
    """Fixed headers (and query parameters) that no refresh can change (``none``,
    ``bearer``, ``api_key``, ``http_basic``)."""

    def __init__(
        self, headers: Mapping[str, str], *, query: Mapping[str, str] | None = None
    ) -> None:
        self._headers = dict(headers)
        self._query = dict(query or {})

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def query(self) -> list[tuple[str, str]]:
        """Query parameters to add to every request to the connection's origin."""
        return list(self._query.items())

    def on_unauthorized(self, sent: Mapping[str, str]) -> bool:
        return False


@register_auth("none")
def _none(config: AuthConfig, ctx: AuthContext) -> Auth:
    return StaticAuth({})


@register_auth("bearer")
def _bearer(config: AuthConfig, ctx: AuthContext) -> Auth:
    if not config.token:
        raise AuthError(f"connection {ctx.connection}: auth type bearer needs a token")
    return StaticAuth({"Authorization": f"Bearer {config.token}"})


def request_token(ctx: AuthContext, config: AuthConfig, form: dict[str, str]) -> dict[str, Any]:
    """POST a form-encoded grant to ``token_url``; the parsed response, secrets registered.

    The request must finish within ``ctx.timeout.total`` (:data:`TOKEN_TOTAL_TIMEOUT`
    when that is not set), a token endpoint that drips its answer included.
    """
    if not config.token_url:
        raise AuthError(f"connection {ctx.connection}: auth type {config.type} needs a token_url")
    for key in ("client_id", "client_secret") if config.client_id else ():
        form[key] = getattr(config, key) or ""
    if config.scope:
        form["scope"] = config.scope
    where = f"token endpoint {safe_url(config.token_url)} ({form['grant_type']} grant)"
    timeout = ctx.timeout
    if timeout.total is None:
        timeout = replace(timeout, total=TOKEN_TOTAL_TIMEOUT)
    try:
        raw = ctx.transport.send(
            "POST",
            config.token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=timeout,
            max_body_bytes=TOKEN_BODY_CAP,
        )
    except DeadlineExceeded as exc:
        raise TokenDeadlineExceeded(
            f"{where} unreachable: {exc.message}",
            hint="token requests have their own deadline: the total of the client's "
            "auth_timeout, 60s by default",
        ) from None
    except ConnectionFault as exc:
        raise TokenEndpointUnavailable(f"{where} unreachable: {exc.message}") from None
    except TaskRunnerError as exc:
        raise AuthError(f"{where} failed: {exc.message}") from None
    if raw.status == 429 or raw.status >= 500:
        raise TokenEndpointUnavailable(f"{where} answered {raw.status} {raw.reason}".rstrip())
    if not 200 <= raw.status < 300:
        excerpt = REDACTOR.redact(raw.text[:EXCERPT_CHARS])
        raise AuthError(f"{where} answered {raw.status} {raw.reason}: {excerpt}".rstrip(": "))
    try:
        body = raw.json()
    except TaskRunnerError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise AuthError(f"{where} answered {raw.status} without an access_token")
    for key in ("access_token", "refresh_token", "id_token"):
        REDACTOR.add(body.get(key))
    return body


def _refresh_at(body: Mapping[str, Any], margin: float, now: float) -> float | None:
    """When to fetch a new token: ``margin`` before expiry, but never sooner than halfway."""
    try:
        expires_in = float(body["expires_in"])
    except (KeyError, TypeError, ValueError):
        return None
    return now + max(expires_in - margin, expires_in / 2)


def _cache_key(ctx: AuthContext, config: AuthConfig, extra: str = "") -> str:
    # Names tokens without exposing secrets: a Redis key is visible to its admins.
    ident = hashlib.sha256(f"{config.token_url}|{config.client_id}|{extra}".encode()).hexdigest()
    return f"task-runner:token:{config.type}:{ident[:24]}"


class _OAuthBearer:
    """What both OAuth types share: a bearer header from ``_token``, a new token on a 401."""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token(rejected=None).value}"}

    def on_unauthorized(self, sent: Mapping[str, str]) -> bool:
        self._token(rejected=bearer_of(sent) or "")
        return True

    def _token(self, rejected: str | None) -> AccessToken:
        """A usable token other than ``rejected`` (``None``: any fresh one will do)."""
        raise NotImplementedError


class ClientCredentialsAuth(_OAuthBearer):
    """``oauth2_client_credentials``: one token for all threads, renewed before expiry."""

    def __init__(self, config: AuthConfig, ctx: AuthContext) -> None:
        if not (config.client_id and config.client_secret):
            raise AuthError(
                f"connection {ctx.connection}: {config.type} needs client_id and client_secret"
            )
        self.config, self.ctx = config, ctx
        self.key = _cache_key(ctx, config)

    def _token(self, rejected: str | None) -> AccessToken:
        now = self.ctx.clock.time()
        token = self.ctx.token_cache.get(self.key)
        if _usable(token, rejected, now):
            assert token is not None
            return token
        with self.ctx.locks(self.key):
            # Another thread may have fetched one while we waited for the lock.
            token = self.ctx.token_cache.get(self.key)
            if _usable(token, rejected, self.ctx.clock.time()):
                assert token is not None
                return token
            body = request_token(self.ctx, self.config, {"grant_type": "client_credentials"})
            token = AccessToken(
                body["access_token"],
                _refresh_at(body, self.config.refresh_margin, self.ctx.clock.time()),
            )
            self.ctx.token_cache.set(self.key, token)
            log.info("connection %s: fetched a new access token", self.ctx.connection)
            return token


def _usable(token: AccessToken | None, rejected: str | None, now: float) -> bool:
    return token is not None and token.value != rejected and token.fresh(now)


class RefreshTokenAuth(_OAuthBearer):
    """``oauth2_refresh_token``: rotate the refresh token safely across processes."""

    def __init__(self, config: AuthConfig, ctx: AuthContext, store: TokenStore) -> None:
        self.config, self.ctx, self.store = config, ctx, store
        self.key = _cache_key(ctx, config, store.key)

    def _token(self, rejected: str | None) -> AccessToken:
        token = self.ctx.token_cache.get(self.key)
        if _usable(token, rejected, self.ctx.clock.time()):
            assert token is not None
            return token
        with self.ctx.locks(self.key), self.store.lock():
            # Re-read under the lock: another thread or process may have rotated already.
            stored = self.store.load()
            token = stored.access() if stored else None
            if not _usable(token, rejected, self.ctx.clock.time()):
                token = self._refresh(stored)
            assert token is not None
            self.ctx.token_cache.set(self.key, token)
            return token

    def _refresh(self, stored: StoredTokens | None) -> AccessToken:
        refresh_token = stored.refresh_token if stored else self.config.refresh_token
        if not refresh_token:
            raise AuthError(
                f"connection {self.ctx.connection}: no refresh token in the token store or the "
                "connection's auth.refresh_token"
            )
        body = request_token(
            self.ctx, self.config, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        new = StoredTokens(
            # A server that does not rotate keeps the old one valid.
            refresh_token=str(body.get("refresh_token") or refresh_token),
            access_token=body["access_token"],
            refresh_at=_refresh_at(body, self.config.refresh_margin, self.ctx.clock.time()),
        )
        # Durable BEFORE use: the old refresh token is already spent at the server.
        self.store.save(new)
        log.info("connection %s: refreshed and stored the rotated token", self.ctx.connection)
        token = new.access()
        assert token is not None
        return token


@register_auth("oauth2_client_credentials")
def _client_credentials(config: AuthConfig, ctx: AuthContext) -> Auth:
    return ClientCredentialsAuth(config, ctx)


@register_auth("oauth2_refresh_token")
def _refresh_token(config: AuthConfig, ctx: AuthContext) -> Auth:
    store = ctx.token_store or FileTokenStore(
        config.token_store or default_token_store_path(ctx.connection)
    )
    return RefreshTokenAuth(config, ctx, store)
