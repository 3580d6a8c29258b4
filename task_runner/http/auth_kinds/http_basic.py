"""``auth: {type: http_basic, username: ..., password: ...}``: RFC 7617 Basic."""

from __future__ import annotations

import base64

from task_runner.errors import AuthError
from task_runner.http.auth import Auth, AuthContext, StaticAuth
from task_runner.http.auth_kinds import AuthKind, register_kind
from task_runner.model import AuthConfig
from task_runner.redact import REDACTOR


def _basic(config: AuthConfig, ctx: AuthContext) -> Auth:
    if config.username is None or config.password is None:
        raise AuthError(
            f"connection {ctx.connection}: auth type http_basic needs a username and a password"
        )
    pair = f"{config.username}:{config.password}".encode()
    encoded = base64.b64encode(pair).decode("ascii")
    REDACTOR.add(encoded)  # the header value itself is a secret
    return StaticAuth({"Authorization": f"Basic {encoded}"})


register_kind(
    AuthKind(
        name="http_basic",
        factory=_basic,
        options={
            "username": {"type": "string"},
            "password": {"type": "string", "description": "a secret"},
        },
        required=("username", "password"),
        secrets=("password",),
    )
)
