"""One job: the parts of ``schemas/workflow.schema.json`` that registries own.

The ``paginate`` definition comes from the paginator registry (each paginator's
``options``) and the ``auth`` definition from the auth-kind registry (each kind's settings
and required keys), so a new paginator or auth kind reaches the editor schema with no
second list to keep in step. ``apply`` returns the schema with those definitions replaced; a test checks that
the committed file equals it, and ``python -m task_runner.schema_fragments`` rewrites it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["apply", "fragments"]


def fragments() -> dict[str, Any]:
    """``{definition name: schema}`` for every definition a registry owns."""
    from task_runner.http.auth_kinds import auth_schema
    from task_runner.http.paginators import paginate_schema

    return {"paginate": paginate_schema(), "auth": auth_schema()}


def apply(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` whose registry-owned ``$defs`` are rebuilt from the code."""
    out = json.loads(json.dumps(schema))
    out.setdefault("$defs", {}).update(fragments())
    return out


def main(argv: list[str]) -> int:
    from task_runner.catalogue import repo_root

    path = Path(argv[0]) if argv else repo_root() / "schemas" / "workflow.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    text = json.dumps(apply(schema), indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
