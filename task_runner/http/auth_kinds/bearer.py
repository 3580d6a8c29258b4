"""``auth: {type: bearer, token: ...}``: ``Authorization: Bearer <token>`` (RFC 6750)."""

from __future__ import annotations

from task_runner.errors import AuthError
from task_runner.http.auth import Auth, AuthContext, StaticAuth
from task_runner.http.auth_kinds import AuthKind, register_kind
from task_runner.model import AuthConfig


def _bearer(config: AuthConfig, ctx: AuthContext) -> Auth:
    if not config.token:
        raise AuthError(f"connection {ctx.connection}: auth type bearer needs a token")
    return StaticAuth({"Authorization": f"Bearer {config.token}"})


register_kind(
    AuthKind(
        name="bearer",
        factory=_bearer,
        options={"token": {"type": "string", "description": "the bearer token (a secret)"}},
        required=("token",),
        secrets=("token",),
    )
)
