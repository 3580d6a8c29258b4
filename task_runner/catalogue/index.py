"""An API's index: what ``apis list`` and ``apis search`` need of each operation.

``apis generate`` writes ``task_definitions/<api>/index.jsonl`` beside the definitions:
a header line, then one JSON line per operation (:class:`CatalogueEntry`: id, api,
method, path, summary, description, parameter names), sorted by id, so that listing and
searching thousands of operations reads one file instead of thousands. It is generated
text like the definitions (``apis generate --check`` compares it) and only ever saves
time: the catalogue reads the definition of any operation the index does not list.

Example::

    entries = read_index(Path("task_definitions/procore/index.jsonl"))
    CatalogueEntry.from_json(json.loads(entries["procore.images.list"])).path
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from task_runner.catalogue.catalogue import OperationDefinition

__all__ = ["INDEX_FORMAT", "INDEX_NAME", "CatalogueEntry", "index_text", "read_index"]

INDEX_NAME = "index.jsonl"
INDEX_FORMAT = "task-runner catalogue index"


@dataclass(frozen=True)
class CatalogueEntry:
    """What listing and searching need of one operation: one line of an API's index."""

    id: str
    api: str
    method: str
    path: str
    summary: str
    description: str
    params: tuple[str, ...]

    @classmethod
    def from_definition(cls, definition: OperationDefinition) -> CatalogueEntry:
        return cls(
            id=definition.id,
            api=definition.api,
            method=definition.method,
            path=definition.path,
            summary=definition.summary,
            description=definition.description,
            params=tuple(p.name for p in definition.parameters),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CatalogueEntry:
        """An index line; ``KeyError``/``TypeError``/``ValueError`` when it is not one."""
        params = data["params"]
        if not isinstance(params, list):
            raise TypeError("params")
        return cls(
            id=str(data["id"]),
            api=str(data["api"]),
            method=str(data["method"]),
            path=str(data["path"]),
            summary=str(data["summary"]),
            description=str(data["description"]),
            params=tuple(str(p) for p in params),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api": self.api,
            "method": self.method,
            "path": self.path,
            "summary": self.summary,
            "description": self.description,
            "params": list(self.params),
        }

    def search_fields(self) -> dict[str, str]:
        """The lower-cased texts searched, as :func:`~task_runner.catalogue.search.search_fields`."""
        return {
            "id": self.id.lower(),
            "path": self.path.lower(),
            "params": " ".join(p.lower() for p in self.params),
            "summary": self.summary.lower(),
            "description": self.description.lower(),
        }


def index_text(api: str, entries: Sequence[CatalogueEntry]) -> str:
    """An API's index: a header line, then one JSON line per operation, sorted by id."""
    header = {"format": INDEX_FORMAT, "version": 1, "api": api, "operations": len(entries)}
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [
        json.dumps(e.to_json(), ensure_ascii=False) for e in sorted(entries, key=lambda e: e.id)
    ]
    return "\n".join(lines) + "\n"


_INDEX_ID = re.compile(r'^\{"id": "([^"\\]*)"')


def read_index(path: Path) -> dict[str, str]:
    """The lines of an index file by operation id, each still JSON text (parsed when
    needed); ``{}`` when it is not an index (the definitions are then read instead: an
    index only ever saves time)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0]) if lines else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(header, dict) or header.get("format") != INDEX_FORMAT:
        return {}
    found: dict[str, str] = {}
    for line in lines[1:]:
        match = _INDEX_ID.match(line)
        if match:
            found[match[1]] = line
        elif line.strip():
            try:
                found[str(json.loads(line)["id"])] = line
            except (ValueError, KeyError, TypeError):
                continue  # left to its definition
    return found
