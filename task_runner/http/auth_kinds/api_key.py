"""``auth: {type: api_key, key: ..., in: header|query, name: X-Api-Key}``.

The key goes in the header or query parameter ``name`` (OpenAPI ``apiKey`` security
scheme); ``in`` and ``name`` default to the API profile's scheme. Like every credential it
is sent only to the connection's origin, and it is redacted everywhere (the query string
of a URL in a message is never shown).
"""

from __future__ import annotations

from task_runner.errors import AuthError
from task_runner.http.auth import Auth, AuthContext, StaticAuth
from task_runner.http.auth_kinds import AuthKind, register_kind
from task_runner.model import AuthConfig


def _api_key(config: AuthConfig, ctx: AuthContext) -> Auth:
    if not config.key:
        raise AuthError(f"connection {ctx.connection}: auth type api_key needs a key")
    name = config.key_name or "X-Api-Key"
    if config.key_in == "query":
        return StaticAuth({}, query={name: config.key})
    return StaticAuth({name: config.key})


register_kind(
    AuthKind(
        name="api_key",
        factory=_api_key,
        options={
            "key": {"type": "string", "description": "the API key (a secret)"},
            "in": {"enum": ["header", "query"], "description": "where the key goes"},
            "name": {"type": "string", "description": "the header or query parameter name"},
        },
        required=("key",),
        secrets=("key",),
    )
)
