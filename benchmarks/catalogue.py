"""catalogue: ``apis generate``, ``apis search`` and ``apis show`` on a Procore-sized API.

:func:`synthetic_document` builds, without downloading anything, an OpenAPI 3.0 document
shaped like Procore's published one: 1,743 paths and 2,636 operations (by default),
resources nested under ``/rest/v1.0/projects/{project_id}/...`` and
``/rest/v1.0/companies/{company_id}/...`` (and ``v1.1``/``v2.0`` ones), shared component
parameters, schemas, headers and responses reached through ``$ref``, page/per_page
pagination with ``Total``/``Per-Page``/``Link`` headers, and three pairs of operations
whose path-derived ids collide (``POST .../disbursements/validate`` and ``POST
.../disbursements/{disbursement_id}/validate`` among them). The tests import it too.

Each command runs as a whole process (``task-runner ...``), as a user runs it; the times
are the median of N runs. The goals are absolute: generate <= 30 s, search and show
<= 0.2 s each. The "baseline" column is ``apis show procore.images.list`` on the
built-in catalogue alone, for scale.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Result

NAME, UNIT, GOAL = "catalogue", "s", "<= 0.2 s (generate <= 30 s)"
SEARCH_LIMIT, SHOW_LIMIT, GENERATE_LIMIT = 0.2, 0.2, 30.0
PATHS, OPERATIONS = 1_743, 2_636
API = "procore"


def _names(text: str) -> list[str]:
    """The space-separated names of ``text`` (keeps the long lists below readable)."""
    return text.split()


NOUNS = _names(
    "images image_categories daily_logs documents drawings drawing_revisions rfis submittals "
    "observations inspections punch_items meetings schedules tasks budgets change_orders "
    "commitments contracts invoices payments vendors users locations trades cost_codes "
    "equipment timesheets timecard_entries manpower_logs weather_logs delivery_logs "
    "safety_violations incidents forms checklists specifications spec_sections bid_packages "
    "bids prime_contracts change_events direct_costs line_items estimates folders files "
    "correspondences emails photos_albums coordination_issues models transmittals "
    "action_plans permits warranties quality_items witnesses injuries near_misses "
    "work_orders work_logs crews programs departments offices roles permission_templates "
    "webhooks triggers calendars milestones todos tags"
)
SCOPES = (
    "/rest/v1.0/projects/{project_id}",
    "/rest/v1.0/companies/{company_id}",
    "/rest/v1.0",
    "/rest/v1.1/projects/{project_id}",
    "/rest/v2.0/companies/{company_id}/projects/{project_id}",
)
SUBS = _names(
    "attachments comments versions recipients history permissions custom_fields responses "
    "watchers sections statuses approvers"
)
#: (collection, action, method): ``{scope}/{collection}/{action}`` beside
#: ``{scope}/{collection}/{<singular>_id}/{action}``; their path-derived ids collide.
COLLIDING = (
    ("disbursements", "validate", "post"),
    ("requisitions", "sync", "post"),
    ("reports", "summary", "get"),
)
COLLIDING_SCOPE = "/rest/v1.0/projects/{project_id}"


def _singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def _title(noun: str) -> str:
    return noun.replace("_", " ").title()


def _schema_name(noun: str) -> str:
    return "".join(w.title() for w in _singular(noun).split("_"))


def _path_params(path: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in [p[1:-1] for p in path.split("/") if p.startswith("{")]:
        shared = {"project_id": "ProjectIdPath", "company_id": "CompanyIdPath"}.get(name)
        if shared:
            params.append({"$ref": f"#/components/parameters/{shared}"})
        else:
            params.append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
            )
    return params


def _base_params(path: str) -> list[dict[str, Any]]:
    params = [{"$ref": "#/components/parameters/CompanyId"}, *_path_params(path)]
    if "{project_id}" not in path and "{company_id}" not in path:
        params.append({"$ref": "#/components/parameters/ProjectIdQuery"})
    return params


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _errors() -> dict[str, Any]:
    return {
        "401": _ref("responses", "Unauthorized"),
        "404": _ref("responses", "NotFound"),
        "429": _ref("responses", "RateLimited"),
    }


def _list_op(path: str, noun: str, what: str) -> dict[str, Any]:
    return {
        "summary": f"List {what}",
        "description": f"Return a list of all {what}. See Filtering on List Actions for the "
        "filtering capabilities of this endpoint; results are paged (page, per_page).",
        "tags": [_title(noun)],
        "parameters": [
            *_base_params(path),
            _ref("parameters", "Page"),
            _ref("parameters", "PerPage"),
            _ref("parameters", "FilterCreatedAt"),
            _ref("parameters", "FilterUpdatedAt"),
            {
                "name": "sort",
                "in": "query",
                "description": "Field to sort by; prefix with - to reverse.",
                "schema": {"type": "string", "enum": ["created_at", "updated_at", "name"]},
            },
        ],
        "responses": {
            "200": {
                "description": "OK",
                "headers": {
                    "Total": _ref("headers", "Total"),
                    "Per-Page": _ref("headers", "PerPage"),
                    "Link": _ref("headers", "Link"),
                    "X-Rate-Limit-Remaining": _ref("headers", "RateLimitRemaining"),
                },
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "items": _ref("schemas", _schema_name(noun))}
                    }
                },
            },
            **_errors(),
        },
    }


def _one_op(path: str, noun: str, method: str) -> dict[str, Any]:
    name = _schema_name(noun)
    verbs = {"get": "Show", "patch": "Update", "delete": "Delete", "post": "Create"}
    op: dict[str, Any] = {
        "summary": f"{verbs[method]} {_title(_singular(noun))}",
        "description": f"{verbs[method]}s the specified {_title(_singular(noun))}.",
        "tags": [_title(noun)],
        "parameters": _base_params(path),
        "responses": {
            "204" if method == "delete" else "200": (
                {"description": "Deleted"}
                if method == "delete"
                else {
                    "description": "OK",
                    "content": {"application/json": {"schema": _ref("schemas", name)}},
                }
            ),
            **_errors(),
        },
    }
    if method in ("post", "patch"):
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("schemas", f"{name}Body")}},
        }
    return op


def _bundle(scope: str, noun: str, subs: list[str]) -> dict[str, dict[str, Any]]:
    """A resource: its collection (GET, POST), member (GET, PATCH, DELETE), sub-lists."""
    collection = f"{scope}/{noun}"
    member = f"{collection}/{{id}}"
    items: dict[str, dict[str, Any]] = {
        collection: {
            "get": _list_op(collection, noun, _title(noun)),
            "post": _one_op(collection, noun, "post"),
        },
        member: {m: _one_op(member, noun, m) for m in ("get", "patch", "delete")},
    }
    for sub in subs:
        path = f"{collection}/{{{_singular(noun)}_id}}/{sub}"
        items[path] = {"get": _list_op(path, noun, f"{_title(sub)} of a {_title(_singular(noun))}")}
    return items


def _colliding() -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for collection, action, method in COLLIDING:
        for middle in ("", f"/{{{_singular(collection)}_id}}"):
            path = f"{COLLIDING_SCOPE}/{collection}{middle}/{action}"
            op = _one_op(path, collection, method)
            op.pop("requestBody", None)
            op["summary"] = f"{_title(action)} {_title(collection)}"
            items[path] = {method: op}
    return items


def _components(nouns: list[str]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "User": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "login": {"type": "string"},
                "name": {"type": "string"},
            },
        },
        "Attachment": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "url": {"type": "string", "format": "uri"},
                "filename": {"type": "string"},
            },
        },
        "CustomFields": {"type": "object", "additionalProperties": {"type": "string"}},
    }
    for noun in dict.fromkeys(nouns):
        name = _schema_name(noun)
        schemas[name] = {
            "type": "object",
            "properties": {
                "id": {"type": "integer", "readOnly": True},
                "name": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "created_by": _ref("schemas", "User"),
                "attachments": {"type": "array", "items": _ref("schemas", "Attachment")},
                "custom_fields": _ref("schemas", "CustomFields"),
            },
        }
        schemas[f"{name}Body"] = {
            "type": "object",
            "required": [_singular(noun)],
            "properties": {
                _singular(noun): {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {
                            "type": "string",
                            "description": f"{_title(_singular(noun))} name",
                        },
                        "description": {"type": "string"},
                        "custom_fields": _ref("schemas", "CustomFields"),
                    },
                }
            },
        }
    header = {"schema": {"type": "integer"}}
    return {
        "parameters": {
            "CompanyId": {
                "name": "Procore-Company-Id",
                "in": "header",
                "required": True,
                "description": "Unique company identifier associated with the Procore User Account.",
                "schema": {"type": "integer"},
            },
            "ProjectIdPath": {
                "name": "project_id",
                "in": "path",
                "required": True,
                "description": "Unique identifier for the project.",
                "schema": {"type": "integer"},
            },
            "CompanyIdPath": {
                "name": "company_id",
                "in": "path",
                "required": True,
                "description": "Unique identifier for the company.",
                "schema": {"type": "integer"},
            },
            "ProjectIdQuery": {
                "name": "project_id",
                "in": "query",
                "required": True,
                "description": "Unique identifier for the project.",
                "schema": {"type": "integer"},
            },
            "Page": {"name": "page", "in": "query", "schema": {"type": "integer"}},
            "PerPage": {"name": "per_page", "in": "query", "schema": {"type": "integer"}},
            "FilterCreatedAt": {
                "name": "filters[created_at]",
                "in": "query",
                "description": "Return item(s) created within the specified ISO 8601 datetime "
                "range. Formats: YYYY-MM-DD...YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ...",
                "schema": {"type": "string", "format": "date"},
            },
            "FilterUpdatedAt": {
                "name": "filters[updated_at]",
                "in": "query",
                "description": "Return item(s) last updated within the specified ISO 8601 "
                "datetime range.",
                "schema": {"type": "string", "format": "date"},
            },
        },
        "headers": {
            "Total": {"description": "Total number of items", **header},
            "PerPage": {"description": "Items per page", **header},
            "Link": {"description": "RFC 8288 links", "schema": {"type": "string"}},
            "RateLimitRemaining": {"description": "Requests left in the window", **header},
        },
        "responses": {
            "Unauthorized": {"description": "Unauthorized"},
            "NotFound": {"description": "Not found"},
            "RateLimited": {
                "description": "Too many requests",
                "headers": {
                    "Retry-After": header,
                    "X-Rate-Limit-Reset": header,
                    "X-Rate-Limit-Limit": header,
                },
            },
        },
        "schemas": schemas,
        "securitySchemes": {
            "OAuth": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "https://login.procore.com/oauth/token",
                        "scopes": {},
                    },
                    "authorizationCode": {
                        "authorizationUrl": "https://login.procore.com/oauth/authorize",
                        "tokenUrl": "https://login.procore.com/oauth/token",
                        "scopes": {},
                    },
                },
            }
        },
    }


def synthetic_document(paths: int = PATHS, operations: int = OPERATIONS) -> dict[str, Any]:
    """A Procore-like OpenAPI 3.0 document with exactly ``paths`` paths and ``operations``
    operations (module docstring). Deterministic: the same sizes give the same document."""
    fixed = _colliding()
    rest_paths, rest_ops = paths - len(fixed), operations - len(fixed)
    bundles, two_op = divmod(rest_ops - rest_paths, 3)  # a bundle has 2 more ops than paths
    singles = rest_paths - 2 * bundles - two_op
    combos = [(scope, noun) for scope in SCOPES for noun in NOUNS]
    if bundles > len(combos) or singles < 0 or singles > bundles * len(SUBS):
        raise ValueError(f"cannot shape a document of {paths} paths and {operations} operations")
    items: dict[str, dict[str, Any]] = {}
    for index, (scope, noun) in enumerate(combos[:bundles]):
        count = singles // bundles + (1 if index < singles % bundles else 0)
        items.update(_bundle(scope, noun, list(SUBS[:count])))
        if index < two_op:
            settings = f"{scope}/{noun}/settings"
            items[settings] = {
                "get": _one_op(settings, noun, "get"),
                "patch": _one_op(settings, noun, "patch"),
            }
    items.update(fixed)
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Procore REST API (synthetic)", "version": "1.0"},
        "servers": [
            {"url": "https://api.procore.com", "description": "Production"},
            {"url": "https://sandbox.procore.com", "description": "Sandbox"},
        ],
        "security": [{"OAuth": []}],
        "paths": items,
        "components": _components(
            [noun for _, noun in combos[:bundles]] + [c for c, _, _ in COLLIDING]
        ),
    }
    counted = sum(len(item) for item in items.values())
    assert (len(items), counted) == (paths, operations), (len(items), counted)
    return document


def write_document(path: Path, paths: int = PATHS, operations: int = OPERATIONS) -> Path:
    """The synthetic document as JSON (Procore publishes JSON) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(synthetic_document(paths, operations), indent=1), encoding="utf-8")
    return path


def _command() -> list[str]:
    script = shutil.which("task-runner", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "task_runner"]


def _timed(args: list[str], cwd: Path, repeats: int) -> float:
    times: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([*_command(), *args], cwd=cwd, check=True, capture_output=True, timeout=300)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(quick: bool) -> Result:
    paths, operations, repeats = (120, 180, 1) if quick else (PATHS, OPERATIONS, 7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        document = write_document(root / "openapi.json", paths, operations)
        generate = _timed(
            ["apis", "generate", str(document), "--api", API, "--out", "task_definitions"],
            root,
            1,
        )
        folder = ["--definitions", str(root / "task_definitions")]
        _timed(["apis", "search", "photos", *folder], root, 1)  # warm the file cache
        search = _timed(["apis", "search", "photos", *folder], root, repeats)
        show = _timed(["apis", "show", f"{API}.projects.images.list", *folder], root, repeats)
        baseline = _timed(["apis", "show", "procore.images.list"], root, repeats)
    slowest = max(search, show)
    meets = search <= SEARCH_LIMIT and show <= SHOW_LIMIT and generate <= GENERATE_LIMIT
    return Result(
        NAME,
        slowest,
        UNIT,
        baseline,
        GOAL,
        None if quick else meets,
        measured=generate,
        detail=f"{operations:,} operations on {paths:,} paths, whole processes, median of "
        f"{repeats}: generate {generate:.2f}s, search {search:.3f}s, show {show:.3f}s "
        f"(built-in catalogue show {baseline:.3f}s)",
        extra={"generate_s": generate, "search_s": search, "show_s": show},
    )
