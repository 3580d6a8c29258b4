"""``auth: {type: oauth2_client_credentials, token_url, client_id, client_secret}``
(RFC 6749 section 4.4): a token cached until ``refresh_margin`` before it expires and
fetched again once on a 401; the machinery is :class:`~task_runner.http.auth.ClientCredentialsAuth`."""

from __future__ import annotations

from task_runner.http.auth import Auth, AuthContext, ClientCredentialsAuth
from task_runner.http.auth_kinds import AuthKind, register_kind
from task_runner.model import AuthConfig

OAUTH_OPTIONS = {
    "token_url": {"type": "string"},
    "client_id": {"type": "string"},
    "client_secret": {"type": "string", "description": "a secret"},
    "scope": {"type": "string"},
    "refresh_margin": {"$ref": "#/$defs/duration"},
    "token_timeout": {
        "$ref": "#/$defs/duration",
        "description": "how long a whole token request may take (default 60s)",
    },
}


def _client_credentials(config: AuthConfig, ctx: AuthContext) -> Auth:
    return ClientCredentialsAuth(config, ctx)


register_kind(
    AuthKind(
        name="oauth2_client_credentials",
        factory=_client_credentials,
        options=OAUTH_OPTIONS,
        required=("token_url", "client_id", "client_secret"),
        secrets=("client_id", "client_secret"),
    )
)
