"""Rank an operation definition against search words.

Every word must match somewhere (id, path, summary or a parameter name); a match in the
id weighs most, then the path, the parameter names and the summary. An exact id wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from task_runner.catalogue.catalogue import OperationDefinition

__all__ = ["score"]

WEIGHTS = (("id", 8), ("path", 4), ("params", 3), ("summary", 2))


def _fields(definition: OperationDefinition) -> dict[str, str]:
    return {
        "id": definition.id.lower(),
        "path": definition.path.lower(),
        "params": " ".join(p.name.lower() for p in definition.parameters),
        "summary": definition.summary.lower(),
    }


def score(definition: OperationDefinition, words: Sequence[str]) -> int:
    """0 when some word matches nothing, else a relevance score (higher is better)."""
    if not words:
        return 1
    fields = _fields(definition)
    total = 0
    for word in words:
        hits = sum(weight for name, weight in WEIGHTS if word in fields[name])
        if not hits:
            return 0
        total += hits
    if " ".join(words) == fields["id"]:
        total += 100
    return total
