"""An API profile: what a reference page does not say about an API as a whole.

Hand-written per API as ``task_definitions/<api>/profile.yaml`` (or ``.json``), or
generated from an OpenAPI document by ``apis generate`` when the API has none (see
:mod:`~task_runner.catalogue.openapi_profile`): environments with their API and OAuth
hosts, the auth kinds (and, generated, ``auth.schemes``: per security scheme its kind,
where an API key goes, the token URL), pagination, where a list response keeps its items
(``items``, a JSON pointer), rate-limit and query-encoding conventions. Connections use it
for defaults::

    profile = Catalogue.load().profile("procore")
    profile.base_url()                 # 'https://api.procore.com'
    profile.token_url("sandbox")       # 'https://login-sandbox.procore.com/oauth/token'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from task_runner.errors import LoadError, SourceLocation, UnresolvedReferenceError, did_you_mean

__all__ = ["ApiProfile", "Environment", "load_profile"]


@dataclass(frozen=True)
class Environment:
    """One deployment of an API: where requests and token requests go."""

    name: str
    api_base_url: str
    oauth_base_url: str | None = None
    description: str = ""


@dataclass(frozen=True, eq=False)
class ApiProfile:
    """The conventions of one API; ``raw`` keeps the whole file for what is not modelled."""

    api: str
    title: str
    environments: Mapping[str, Environment]
    default_environment: str
    auth: Mapping[str, Any] = field(default_factory=dict)
    pagination: Mapping[str, Any] = field(default_factory=dict)
    rate_limit: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, Any] = field(default_factory=dict)
    query_encoding: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)
    file: str = ""
    items: str | None = None

    def environment(self, name: str | None = None) -> Environment:
        """The named environment (default: ``default_environment``)."""
        name = name or self.default_environment
        try:
            return self.environments[name]
        except KeyError:
            raise UnresolvedReferenceError(
                f"API {self.api!r} has no environment {name!r}",
                hint=did_you_mean(name, self.environments)
                or "one of " + ", ".join(sorted(self.environments)),
            ) from None

    def base_url(self, env: str | None = None) -> str:
        """The API host of an environment, e.g. ``https://api.procore.com``."""
        return self.environment(env).api_base_url

    def oauth_base_url(self, env: str | None = None) -> str:
        environment = self.environment(env)
        if not environment.oauth_base_url:
            raise UnresolvedReferenceError(
                f"environment {environment.name!r} of {self.api!r} has no OAuth host"
            )
        return environment.oauth_base_url

    def token_url(self, env: str | None = None) -> str:
        """``{oauth host}{auth.token_path}``, e.g. ``https://login.procore.com/oauth/token``;
        for an environment without an OAuth host, the ``token_url`` of the first OAuth
        scheme in ``auth.schemes`` (generated profiles)."""
        environment = self.environment(env)
        if not environment.oauth_base_url:
            scheme_url = next(
                (str(s["token_url"]) for s in self.auth_schemes.values() if s.get("token_url")),
                None,
            )
            if scheme_url:
                return scheme_url
        return self.oauth_base_url(env) + str(self.auth.get("token_path", "/oauth/token"))

    @property
    def auth_kinds(self) -> tuple[str, ...]:
        return tuple(str(k) for k in self.auth.get("kinds", ()))

    @property
    def auth_schemes(self) -> Mapping[str, Mapping[str, Any]]:
        """``auth.schemes``: security scheme name -> ``{kind, in, name, token_url, ...}``."""
        schemes = self.auth.get("schemes")
        if not isinstance(schemes, Mapping):
            return {}
        return {str(k): v for k, v in schemes.items() if isinstance(v, Mapping)}


def _environments(raw: Any, where: SourceLocation) -> dict[str, Environment]:
    if not isinstance(raw, dict) or not raw:
        raise LoadError("an API profile needs a mapping 'environments'", location=where)
    environments: dict[str, Environment] = {}
    for name, body in raw.items():
        if not isinstance(body, dict) or not isinstance(body.get("api_base_url"), str):
            raise LoadError(f"environment {name!r} needs an 'api_base_url'", location=where)
        environments[str(name)] = Environment(
            name=str(name),
            api_base_url=body["api_base_url"].rstrip("/"),
            oauth_base_url=(
                str(body["oauth_base_url"]).rstrip("/") if body.get("oauth_base_url") else None
            ),
            description=str(body.get("description", "")),
        )
    return environments


def load_profile(path: Path, api: str) -> ApiProfile:
    """Read a ``profile.yaml``/``profile.json``; a malformed one is a located LoadError."""
    import yaml  # here, not at import: apis list/search/show never read a profile

    where = SourceLocation(str(path))
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise LoadError(f"cannot read the API profile: {exc}", location=where) from exc
    if not isinstance(raw, dict):
        raise LoadError("an API profile must be a mapping", location=where)
    environments = _environments(raw.get("environments"), where)
    default = str(raw.get("default_environment") or next(iter(environments)))
    if default not in environments:
        raise LoadError(
            f"default_environment {default!r} is not one of the environments", location=where
        )
    return ApiProfile(
        api=str(raw.get("api", api)),
        title=str(raw.get("title", api)),
        environments=environments,
        default_environment=default,
        auth=dict(raw.get("auth") or {}),
        pagination=dict(raw.get("pagination") or {}),
        rate_limit=dict(raw.get("rate_limit") or {}),
        headers=dict(raw.get("headers") or {}),
        query_encoding=dict(raw.get("query_encoding") or {}),
        raw=raw,
        file=str(path),
        items=_items_pointer(raw.get("items"), where),
    )


def _items_pointer(value: Any, where: SourceLocation) -> str | None:
    """``items``: a JSON pointer (``""`` for a bare array, ``/data``), or absent/null."""
    if value is None:
        return None
    if not isinstance(value, str) or (value and not value.startswith("/")):
        raise LoadError(
            f"'items' must be a JSON pointer such as /data (or \"\" for a bare array), not {value!r}",
            location=where,
        )
    return value
