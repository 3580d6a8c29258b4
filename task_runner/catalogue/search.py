"""Rank an operation definition against search words.

Every word must match somewhere (id, path, summary, description or a parameter name); a
match in the id weighs most, then the path, the parameter names, the summary and the
description; a word that names the operation's subject counts once more: the segment
before the verb of a path-derived id (``images`` in ``procore.images.list`` and
``procore.projects.images.list``, not in ``procore.image_categories.list`` or
``procore.images.attachments.list``), any word of an id from an ``operationId``
(``pets`` in ``pets.list_pets``). An exact id wins. Equal scores list shorter ids (fewer segments) first, then by id. People
search with their own words, so a word also matches in its singular form and through a
few synonyms ("photos" finds images).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from task_runner.catalogue.catalogue import OperationDefinition

__all__ = ["Query", "rank_key", "score", "search_fields", "singular", "variants"]

_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')

WEIGHTS = (("id", 8), ("path", 4), ("params", 3), ("summary", 2), ("description", 1))
SUBJECT_WEIGHT = 6

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


def search_fields(definition: OperationDefinition) -> dict[str, str]:
    """The lower-cased texts a definition is searched in, by :data:`WEIGHTS` name."""
    return {
        "id": definition.id.lower(),
        "path": definition.path.lower(),
        "params": " ".join(p.name.lower() for p in definition.parameters),
        "summary": definition.summary.lower(),
        "description": (definition.description or "").lower(),
    }


def _subject(op_id: str) -> set[str]:
    """The words naming what an operation acts on (module docstring), singular."""
    parts = op_id.split(".")[1:]
    if len(parts) >= 2:
        return {parts[-2], singular(parts[-2])}
    words = parts[0].split("_") if parts else []
    return {*words, *(singular(w) for w in words)}


class Query:
    """Search words with their forms worked out once, to score many entries quickly."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = [w.lower() for w in words]
        self.forms = [variants(w) for w in self.words]
        self.phrase = " ".join(self.words)

    def may_match(self, text: str) -> bool:
        """False when some word occurs nowhere in ``text`` (lower-cased JSON of an entry),
        so the entry cannot match; a cheap test before parsing and scoring it."""
        if any(_JSON_ESCAPED.search(w) for w in self.words):
            return True  # JSON text spells these characters differently
        return all(any(f in text for f in forms) for forms in self.forms)

    def score(self, fields: Mapping[str, str]) -> int:
        """0 when some word matches nothing, else a relevance score (higher is better)."""
        if not self.words:
            return 1
        total = 0
        subject = _subject(fields["id"])
        for forms in self.forms:
            hits = sum(weight for name, weight in WEIGHTS if any(f in fields[name] for f in forms))
            if not hits:
                return 0
            total += hits + (SUBJECT_WEIGHT if subject & forms else 0)
        if self.phrase == fields["id"]:
            total += 100
        return total


def rank_key(score: int, op_id: str) -> tuple[int, int, str]:
    """Best first: higher score, then fewer id segments, then the id."""
    return (-score, op_id.count("."), op_id)


def score(definition: OperationDefinition, words: Sequence[str]) -> int:
    """0 when some word matches nothing, else a relevance score (higher is better)."""
    return Query(words).score(search_fields(definition))
