"""The catalogue: ``GET /api/search`` (``q``; at most :data:`SEARCH_LIMIT` results, the
page says when there are more) and ``GET /api/operation`` (``id``: its reference, its
params JSON Schema, and its API profile in brief)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from task_runner.studio.backend import studio_of
from task_runner.studio.responses import handles_errors, json_response

__all__ = ["ROUTES", "SEARCH_LIMIT"]

#: How many search results one answer holds (the page says when there are more).
SEARCH_LIMIT = 200


@handles_errors
async def search(request: Request) -> Response:
    from task_runner.contract import search_json

    query = request.query_params.get("q", "")
    found = search_json(studio_of(request).config.catalogue, query)
    return json_response({"query": query, "total": len(found), "results": found[:SEARCH_LIMIT]})


@handles_errors
async def operation(request: Request) -> Response:
    from task_runner.contract import operation_json

    catalogue = studio_of(request).config.catalogue
    definition = catalogue.get(request.query_params.get("id", ""))
    profile = catalogue.profile(definition.api) if definition.api else None
    return json_response(
        {
            "operation": operation_json(definition),
            "params_schema": definition.params_schema,
            "profile": _profile_json(profile),
        }
    )


def _profile_json(profile: Any) -> dict[str, Any] | None:
    if profile is None:
        return None
    return {
        "api": profile.api,
        "title": profile.title,
        "auth": list((profile.auth or {}).get("kinds", [])),
        "environments": {
            name: env.api_base_url for name, env in (profile.environments or {}).items()
        },
        "default_environment": profile.default_environment,
        "pagination": (profile.pagination or {}).get("style"),
    }


ROUTES = [
    Route("/api/search", search),
    Route("/api/operation", operation),
]
