"""``auth: {type: none}``: no credentials."""

from __future__ import annotations

from task_runner.http.auth import Auth, AuthContext, StaticAuth
from task_runner.http.auth_kinds import AuthKind, register_kind
from task_runner.model import AuthConfig


def _none(config: AuthConfig, ctx: AuthContext) -> Auth:
    return StaticAuth({})


register_kind(AuthKind(name="none", factory=_none, description="no credentials"))
