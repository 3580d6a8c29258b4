"""The one rule that names an operation, and the one rule that keeps names unique.

**From an ``operationId``** (OpenAPI documents that give one): ``<api>.<operationId in
snake_case>``. camelCase and PascalCase words are split (``listPets`` -> ``list_pets``,
``getHTTPStatus`` -> ``get_http_status``), accents are dropped (``créer`` -> ``creer``),
everything else but ``[a-z0-9]`` becomes one ``_`` (``Pets.List`` -> ``pets_list``), and
leading/trailing ``_`` go. An ``operationId`` with nothing left falls back to the path.

**From the method and path** (reference pages, and operations without an ``operationId``):
``<api>.<resource segments>.<verb>``. The path of an OpenAPI operation is the document's
own, without the base path of its server (``https://api.example.com/v1`` + ``/pets``
gives ``pets.pets.list``).

- The leading ``rest`` segment and the base version segment ``v1.0`` are dropped; any
  other version stays as a segment with ``.`` made ``_`` (``/rest/v1.1/x`` ->
  ``procore.v1_1.x.list``) so that two versions of one endpoint never collide.
- Path parameter segments (``{project_id}``) are dropped; literal segments are kept in
  order, so nested resources keep their path (``/projects/{project_id}/locations`` ->
  ``procore.projects.locations.list``).
- Segments are lower-cased; anything but ``[a-z0-9_]`` becomes ``_``.
- The verb comes from the method: GET on a path ending in a ``{parameter}`` is ``get``,
  other GETs are ``list``; POST ``create``; PATCH ``update``; PUT ``update`` (or
  ``replace`` when the same path also has a PATCH); DELETE ``delete``; any other method
  is its lower-cased name.

**Collisions** (:func:`unique_ids`), so that one document never fails to import and the
same document always gives the same ids: operations are taken in (path, method) order,
path compared as text, method lower-cased. An id that only one operation claims is kept.
Of several operations claiming one id, the first keeps it; each later one gets the id
with ``_by_<its path parameters that the first one's path lacks>`` appended
(``POST .../disbursements/{disbursement_id}/validate`` beside ``POST
.../disbursements/validate`` -> ``..._by_disbursement_id``), or, when its path adds no
parameter or that id is taken too, ``_2``, ``_3``... (the first that is free). Suffixed
ids never take an id that another operation claims as its own.

Examples::

    >>> operation_id("procore", "GET", "/rest/v1.0/images")
    'procore.images.list'
    >>> operation_id("procore", "GET", "/rest/v1.0/images/{id}")
    'procore.images.get'
    >>> id_from_operation_id("pets", "listPets")
    'pets.list_pets'
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "BASE_VERSION",
    "Claim",
    "id_from_operation_id",
    "operation_id",
    "path_parameters",
    "snake_case",
    "unique_ids",
]

BASE_VERSION = "v1.0"

_VERSION_RE = re.compile(r"^v\d+(?:\.\d+)*$")
_PARAM_RE = re.compile(r"^\{[^{}]+\}$")
_UNSAFE_RE = re.compile(r"[^a-z0-9_]+")
_VERBS = {"POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "delete"}
_ACRONYM_WORD = re.compile(r"([A-Z]+)([A-Z][a-z])")  # HTTPStatus -> HTTP_Status
_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")  # listPets -> list_Pets
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _segments(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "rest":
        parts = parts[1:]
    if parts and _VERSION_RE.match(parts[0]):
        version = parts.pop(0)
        if version != BASE_VERSION:
            parts.insert(0, version)
    literal = [p for p in parts if not _PARAM_RE.match(p)]
    return [_UNSAFE_RE.sub("_", p.lower()).strip("_") or "_" for p in literal]


def _verb(method: str, path: str, put_is_replace: bool) -> str:
    method = method.upper()
    if method == "GET":
        last = path.rstrip("/").rsplit("/", 1)[-1]
        return "get" if _PARAM_RE.match(last) else "list"
    if method == "PUT" and put_is_replace:
        return "replace"
    return _VERBS.get(method, method.lower())


def operation_id(api: str, method: str, path: str, *, put_is_replace: bool = False) -> str:
    """The path-derived operation id of ``method path`` in ``api`` (module docstring)."""
    return ".".join([api, *_segments(path), _verb(method, path, put_is_replace)])


def snake_case(text: str) -> str:
    """``listPets`` -> ``list_pets``, ``getHTTPStatus`` -> ``get_http_status``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    split = _LOWER_UPPER.sub(r"\1_\2", _ACRONYM_WORD.sub(r"\1_\2", ascii_text))
    return _NOT_ALNUM.sub("_", split.lower()).strip("_")


def id_from_operation_id(api: str, op_id: str) -> str | None:
    """``<api>.<op_id in snake_case>``, or None when nothing of ``op_id`` is left."""
    name = snake_case(op_id)
    return f"{api}.{name}" if name else None


def path_parameters(path: str) -> list[str]:
    """``/projects/{project_id}/images/{id}`` -> ``["project_id", "id"]``."""
    return re.findall(r"\{([^{}/]+)\}", path)


@dataclass(frozen=True)
class Claim:
    """An operation asking for ``id`` (the rule's id before collisions are resolved)."""

    id: str
    method: str
    path: str


def _candidates(claim: Claim, holder: Claim) -> Iterator[str]:
    """``<id>_by_<parameters the holder's path lacks>``, then ``<id>_2``, ``<id>_3``..."""
    held = set(path_parameters(holder.path))
    extra = [snake_case(p) for p in path_parameters(claim.path) if p not in held]
    if any(extra):
        yield claim.id + "_by_" + "_".join(p for p in extra if p)
    yield from (f"{claim.id}_{n}" for n in itertools.count(2))


def unique_ids(claims: Sequence[Claim]) -> list[str]:
    """One unique id per claim, in the claims' order (the rule in the module docstring)."""
    taken = {c.id for c in claims}  # every claimed id stays with a claimant of its own
    holders: dict[str, Claim] = {}
    result: list[str] = [""] * len(claims)
    order = sorted(range(len(claims)), key=lambda i: (claims[i].path, claims[i].method.lower()))
    for index in order:
        claim = claims[index]
        holder = holders.setdefault(claim.id, claim)
        if holder is claim:
            result[index] = claim.id
            continue
        candidate = next(c for c in _candidates(claim, holder) if c not in taken)
        taken.add(candidate)
        result[index] = candidate
    return result
