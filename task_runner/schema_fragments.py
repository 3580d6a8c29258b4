"""One job: the parts of ``schemas/workflow.schema.json`` that code and data own.

The ``paginate`` definition comes from the paginator registry (each paginator's
``options``), the ``auth`` definition from the auth-kind registry (each kind's settings
and required keys), the ``output`` definition from the sink registry (each kind's
settings, :func:`task_runner.sinks.output_schema`), and the ``operations`` definition from the APIs of the built-in
catalogue (``task_definitions/``): per API, a ``$ref`` to its generated editor file
(:mod:`task_runner.catalogue.editor_schema`), which checks a task's ``params`` against
its operation. So a new paginator, auth kind or API reaches the editor schema with no
second list to keep in step.

``apply`` returns the schema with those definitions replaced (and the task definition
referring to ``operations``, see :data:`ROUTE_PARAMS`); a test checks that the committed file equals it,
``task-runner apis generate --check`` too, and ``python -m task_runner.schema_fragments``
rewrites it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "ROUTE_PARAMS",
    "WORKFLOW_SCHEMA",
    "apply",
    "catalogue_apis",
    "fragments",
    "schema_text",
]

WORKFLOW_SCHEMA = "workflow.schema.json"

#: Whether the task definition refers to ``operations``, so that editors check params.
#: Off until ``workflow.loader.workflow_validator()`` compiles
#: ``editor_schema.structural(schema)``: jsonschema without a registry cannot read the API
#: files named by a relative ``$ref``, and ``validate`` would fail on every workflow.
#: (An unreferenced ``$defs`` entry is never evaluated, so ``operations`` is always there.)
ROUTE_PARAMS = True


def catalogue_apis(definitions_dir: Path | None = None) -> list[str]:
    """The APIs with at least one operation in ``definitions_dir`` (default: built-in)."""
    from task_runner.catalogue.catalogue import Catalogue, builtin_definitions_dir

    folder = definitions_dir if definitions_dir is not None else builtin_definitions_dir()
    return sorted({entry.api for entry in Catalogue([folder]).entries()})


def fragments(apis: Iterable[str] | None = None) -> dict[str, Any]:
    """``{definition name: schema}`` for every definition code or the catalogue owns;
    ``apis`` (default: the built-in catalogue's) are the APIs ``operations`` routes to."""
    from task_runner.catalogue.editor_schema import OPERATIONS_DEF, operations_schema
    from task_runner.http.auth_kinds import auth_schema
    from task_runner.http.paginators import paginate_schema
    from task_runner.sinks import output_schema

    routed = catalogue_apis() if apis is None else apis
    return {
        "paginate": paginate_schema(),
        "auth": auth_schema(),
        "output": output_schema(),
        OPERATIONS_DEF: operations_schema(routed),
    }


def apply(
    schema: dict[str, Any], apis: Iterable[str] | None = None, *, route: bool | None = None
) -> dict[str, Any]:
    """A copy of ``schema`` whose generated ``$defs`` are rebuilt from the code and the
    catalogue, with the task definition referring to ``operations`` when ``route``
    (default :data:`ROUTE_PARAMS`)."""
    from task_runner.catalogue.editor_schema import OPERATIONS_DEF

    out: dict[str, Any] = json.loads(json.dumps(schema))
    # No $id: the API files are named relative to this file, and a tool that resolves
    # them against an $id URL would download them instead of reading them beside it.
    out.pop("$id", None)
    out.setdefault("$defs", {}).update(fragments(apis))
    task = out["$defs"].get("task")
    if isinstance(task, dict):
        hook = {"$ref": f"#/$defs/{OPERATIONS_DEF}"}
        rules = [r for r in task.get("allOf", []) if r != hook]
        if ROUTE_PARAMS if route is None else route:
            rules.append(hook)
        if rules:
            task["allOf"] = rules
        else:
            task.pop("allOf", None)
    return out


def schema_text(
    schema: dict[str, Any], apis: Iterable[str] | None = None, *, route: bool | None = None
) -> str:
    """The file text of :func:`apply` (the generator's one JSON layout)."""
    from task_runner.catalogue.generator import dump

    return dump(apply(schema, apis, route=route))


def main(argv: list[str]) -> int:
    from task_runner.catalogue import repo_root

    path = Path(argv[0]) if argv else repo_root() / "schemas" / WORKFLOW_SCHEMA
    schema = json.loads(path.read_text(encoding="utf-8"))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(schema_text(schema), encoding="utf-8")
    tmp.replace(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
