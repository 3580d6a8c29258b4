"""Catalogue entries, search results and operation references as JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue
    from task_runner.catalogue.catalogue import OperationDefinition
    from task_runner.catalogue.index import CatalogueEntry

__all__ = ["entries_json", "entry_json", "operation_json", "search_json"]


def entry_json(entry: CatalogueEntry) -> dict[str, str]:
    """``{id, method, path, summary}`` of one catalogue entry (``apis list`` row)."""
    return {
        "id": entry.id,
        "method": entry.method,
        "path": entry.path,
        "summary": entry.summary,
    }


def entries_json(entries: Iterable[CatalogueEntry]) -> list[dict[str, str]]:
    """The rows of ``apis list`` / ``apis search --output json``, in the given order."""
    return [entry_json(e) for e in entries]


def search_json(
    catalogue: Catalogue, query: str, *, limit: int | None = None
) -> list[dict[str, str]]:
    """Entries matching every word of ``query`` (the catalogue's own ranking), each with
    its ``api`` (the id's first dotted part), at most ``limit`` of them. An empty query
    lists the whole catalogue."""
    entries = catalogue.search_entries(query) if query.strip() else catalogue.entries()
    if limit is not None:
        entries = entries[:limit]
    return [{**entry_json(e), "api": e.id.split(".", 1)[0]} for e in entries]


def operation_json(definition: OperationDefinition) -> dict[str, Any]:
    """An operation's reference as ``apis show --output json`` prints it."""
    return definition.to_dict()
