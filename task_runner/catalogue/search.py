"""Rank an operation definition against search words.

Every word must match somewhere (id, path, summary, description or a parameter name); a
match in the id weighs most, then the path, the parameter names, the summary and the
description. An exact id wins. People search with their own words, so a word also matches
in its singular form and through a few synonyms ("photos" finds images).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from task_runner.catalogue.catalogue import OperationDefinition

__all__ = ["score"]

WEIGHTS = (("id", 8), ("path", 4), ("params", 3), ("summary", 2), ("description", 1))

#: What users type -> what API references say.
SYNONYMS = {
    "photo": ("image",),
    "picture": ("image",),
    "pic": ("image",),
    "img": ("image",),
    "doc": ("document",),
    "file": ("document", "upload"),
    "people": ("user",),
    "person": ("user",),
    "job": ("project",),
    "site": ("project",),
}


def singular(word: str) -> str:
    """``photos`` -> ``photo``, ``entries`` -> ``entry`` (good enough for search words)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def variants(word: str) -> set[str]:
    """The forms a search word may appear in."""
    base = singular(word)
    forms = {word, base}
    for form in (word, base):
        forms.update(SYNONYMS.get(form, ()))
    return forms


def _fields(definition: OperationDefinition) -> dict[str, str]:
    return {
        "id": definition.id.lower(),
        "path": definition.path.lower(),
        "params": " ".join(p.name.lower() for p in definition.parameters),
        "summary": definition.summary.lower(),
        "description": (definition.description or "").lower(),
    }


def score(definition: OperationDefinition, words: Sequence[str]) -> int:
    """0 when some word matches nothing, else a relevance score (higher is better)."""
    if not words:
        return 1
    fields = _fields(definition)
    total = 0
    for word in words:
        forms = variants(word)
        hits = sum(weight for name, weight in WEIGHTS if any(f in fields[name] for f in forms))
        if not hits:
            return 0
        total += hits
    if " ".join(words) == fields["id"]:
        total += 100
    return total
