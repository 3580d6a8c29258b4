"""``auth: {type: oauth2_refresh_token, ..., refresh_token, token_store}`` (RFC 6749
section 6): rotating single-use refresh tokens, the new one saved before the new access
token is used; the machinery is :class:`~task_runner.http.auth.RefreshTokenAuth`."""

from __future__ import annotations

from task_runner.http import auth as _auth
from task_runner.http.auth import Auth, AuthContext
from task_runner.http.auth_kinds import AuthKind, register_kind
from task_runner.http.auth_kinds.oauth2_client_credentials import OAUTH_OPTIONS
from task_runner.model import AuthConfig

# The factory stays in task_runner.http.auth (it picks the token store); registered here
# with its settings' schema.
_factory = _auth.AUTH_TYPES["oauth2_refresh_token"]


def _refresh_token(config: AuthConfig, ctx: AuthContext) -> Auth:
    return _factory(config, ctx)


register_kind(
    AuthKind(
        name="oauth2_refresh_token",
        factory=_refresh_token,
        options={
            **OAUTH_OPTIONS,
            "refresh_token": {"type": "string", "description": "a secret"},
            "token_store": {"type": "string"},
        },
        required=("token_url", "client_id", "client_secret"),
        secrets=("client_id", "client_secret", "refresh_token"),
    )
)
