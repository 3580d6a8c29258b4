"""Auth kinds: one module per way an API authenticates, registered by name.

Each kind is an :class:`AuthKind`: its ``name`` (the workflow's ``auth.type``), the JSON
Schema of its settings (``options``, ``required``), the settings that are secrets
(registered with the redactor the moment they are rendered) and a ``factory`` that builds
the :class:`~task_runner.http.auth.Auth` a client uses. The workflow schema's ``auth``
definition is built from the registry (:func:`auth_schema`), so a new kind reaches the
editor with no second list to keep in step. Built in:

============================  ==============================================================
``none``                      nothing
``bearer``                    ``Authorization: Bearer <token>``
``api_key``                   a key in a header or a query parameter (``in``, ``name``)
``http_basic``                ``Authorization: Basic`` (RFC 7617)
``oauth2_client_credentials`` a token from ``token_url``, cached, renewed on 401
``oauth2_refresh_token``      rotating single-use refresh tokens, persisted before use
============================  ==============================================================

Adding one is one module and one call::

    register_kind(AuthKind(
        name="hmac", options={"key_id": {"type": "string"}, "secret": {"type": "string"}},
        required=("key_id", "secret"), secrets=("secret",), factory=_hmac))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from task_runner.http.auth import Auth, AuthContext
    from task_runner.model import AuthConfig

__all__ = ["AUTH_KINDS", "AuthKind", "auth_schema", "kind", "register_kind", "secret_fields"]


@dataclass(frozen=True)
class AuthKind:
    """One auth kind: its settings' schema, which of them are secrets, its factory."""

    name: str
    factory: Callable[[AuthConfig, AuthContext], Auth]
    options: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    description: str = ""


AUTH_KINDS: dict[str, AuthKind] = {}

_BUILTINS = (
    "none",
    "bearer",
    "api_key",
    "http_basic",
    "oauth2_client_credentials",
    "oauth2_refresh_token",
)


def register_kind(spec: AuthKind) -> AuthKind:
    """Register ``spec`` under its name (also as a factory for ``make_auth``)."""
    from task_runner.http.auth import AUTH_TYPES

    AUTH_KINDS[spec.name] = spec
    AUTH_TYPES[spec.name] = spec.factory
    return spec


def _load_builtins() -> None:
    for name in _BUILTINS:
        importlib.import_module(f"{__name__}.{name}")


def kind(name: str) -> AuthKind | None:
    """The registered kind ``name``, or None."""
    _load_builtins()
    return AUTH_KINDS.get(name)


def secret_fields() -> frozenset[str]:
    """Every setting that some kind declares secret (redacted when rendered)."""
    _load_builtins()
    return frozenset(s for spec in AUTH_KINDS.values() for s in spec.secrets)


_COMMON: dict[str, Any] = {
    "type": {"description": "How the connection authenticates."},
}


def auth_schema() -> dict[str, Any]:
    """The workflow schema's ``auth`` definition: the union of every kind's settings,
    ``type`` one of the registered names, and each kind's required settings."""
    _load_builtins()
    properties: dict[str, Any] = {"type": {**_COMMON["type"], "enum": sorted(AUTH_KINDS)}}
    for name in sorted(AUTH_KINDS):
        for key, schema in AUTH_KINDS[name].options.items():
            properties.setdefault(key, schema)
    rules = [
        {
            "if": {"properties": {"type": {"const": name}}},
            "then": {"required": list(AUTH_KINDS[name].required)},
        }
        for name in sorted(AUTH_KINDS)
        if AUTH_KINDS[name].required
    ]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["type"],
        "properties": properties,
        "allOf": rules,
    }
