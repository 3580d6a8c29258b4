"""The one rule that names an operation: ``<api>.<resource segments>.<verb>``.

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

Examples::

    >>> operation_id("procore", "GET", "/rest/v1.0/images")
    'procore.images.list'
    >>> operation_id("procore", "GET", "/rest/v1.0/images/{id}")
    'procore.images.get'
"""

from __future__ import annotations

import re

__all__ = ["BASE_VERSION", "operation_id", "path_parameters"]

BASE_VERSION = "v1.0"

_VERSION_RE = re.compile(r"^v\d+(?:\.\d+)*$")
_PARAM_RE = re.compile(r"^\{[^{}]+\}$")
_UNSAFE_RE = re.compile(r"[^a-z0-9_]+")
_VERBS = {"POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "delete"}


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
    """The operation id of ``method path`` in ``api`` (see the module docstring)."""
    return ".".join([api, *_segments(path), _verb(method, path, put_is_replace)])


def path_parameters(path: str) -> list[str]:
    """``/projects/{project_id}/images/{id}`` -> ``["project_id", "id"]``."""
    return re.findall(r"\{([^{}/]+)\}", path)
