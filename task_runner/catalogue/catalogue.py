"""The API catalogue: find, read and search operation definitions.

Folders are the built-in ``<repo root>/task_definitions`` plus any extra ones; each holds
``<api>/<operation id>.json`` (or ``<operation id>.json``), ``<api>/profile.yaml`` and
``<api>/index.jsonl``. A later folder overrides an earlier one for the same id, so a
user's folder can replace a built-in definition. Loading only lists file names; a
definition is read when asked.

Listing and searching read no definition: ``apis generate`` writes, beside an API's
definitions, an index with one line per operation (:class:`CatalogueEntry`: id, method,
path, summary, description, parameter names). An operation the index does not list (a
hand-written or copied definition) is read in full instead, so a missing or stale index
costs time, never results; ``apis generate --check`` keeps the committed ones exact.

Example::

    catalogue = Catalogue.load()
    images = catalogue.get("procore.images.list")
    images.param("project_id").required        # True
    errors = list(images.validator().iter_errors({"project_id": "abc"}))
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.catalogue.index import INDEX_NAME, CatalogueEntry, read_index
from task_runner.errors import LoadError, SourceLocation, UnresolvedReferenceError, did_you_mean

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from task_runner.catalogue.profile import ApiProfile

__all__ = [
    "INDEX_NAME",
    "Catalogue",
    "CatalogueEntry",
    "OperationDefinition",
    "ParameterDef",
    "builtin_definitions_dir",
    "repo_root",
]

PROFILE_NAMES = ("profile.yaml", "profile.yml", "profile.json")


@functools.lru_cache(maxsize=1)
def repo_root() -> Path:
    """The folder that holds ``task_definitions/`` and ``schemas/``.

    From a source checkout (or an editable install) that is the project folder; a wheel
    installs both under ``<prefix>/share/task-runner`` (see ``data-files`` in pyproject).
    """
    import sys

    import task_runner

    source = Path(task_runner.__file__).resolve().parent.parent
    if (source / "task_definitions").is_dir():
        return source
    installed = Path(sys.prefix) / "share" / "task-runner"
    return installed if (installed / "task_definitions").is_dir() else source


def builtin_definitions_dir() -> Path:
    return repo_root() / "task_definitions"


@dataclass(frozen=True)
class ParameterDef:
    """One key of a task's ``params``: where it goes, its schema, whether it is required.

    ``style`` is ``"brackets"`` when a query array is sent as ``name[]=..`` although its
    name has no ``[]``; ``wire_name`` is the name on the wire when it differs from
    ``name`` (a body field keyed ``body.<name>`` because a parameter has its name).
    """

    name: str
    location: str
    required: bool
    schema: dict[str, Any] = field(hash=False, compare=False)
    description: str = ""
    style: str | None = None
    wire_name: str | None = None

    @property
    def type(self) -> str:
        kind = self.schema.get("type", "")
        return "|".join(kind) if isinstance(kind, list) else str(kind)


@dataclass(frozen=True)
class OperationDefinition:
    """One API operation as committed under ``task_definitions/`` (see the generator)."""

    id: str
    api: str
    method: str
    path: str
    summary: str
    description: str
    parameters: tuple[ParameterDef, ...]
    request_body: dict[str, Any] | None = field(hash=False, compare=False)
    params_schema: dict[str, Any] = field(hash=False, compare=False)
    source: dict[str, Any] = field(hash=False, compare=False)
    file: str = ""
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    def param(self, name: str) -> ParameterDef | None:
        """The parameter keyed ``name`` in ``params`` (body fields included), or None."""
        return next((p for p in self.parameters if p.name == name), None)

    def validator(self) -> Draft202012Validator:
        """The compiled params validator, built once per definition and then reused."""
        return self._validator

    @cached_property
    def _validator(self) -> Draft202012Validator:
        from jsonschema import Draft202012Validator

        from task_runner.formats import FORMAT_CHECKER

        return Draft202012Validator(self.params_schema, format_checker=FORMAT_CHECKER)

    def to_dict(self) -> dict[str, Any]:
        """The definition as committed (what ``apis show --output json`` prints)."""
        return dict(self.raw)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], params_schema: dict[str, Any], file: str = ""
    ) -> OperationDefinition:
        declared = {p["name"]: p for p in data.get("parameters", [])}
        required = set(params_schema.get("required", []))
        params = []
        for key, prop in params_schema.get("properties", {}).items():
            declared_param = declared.get(key, {})
            params.append(
                ParameterDef(
                    name=key,
                    location=str(prop.get("x-in", declared_param.get("in", "query"))),
                    required=key in required,
                    schema=declared_param.get("schema") or _plain_schema(prop),
                    description=str(prop.get("description", declared_param.get("description", ""))),
                    style=prop.get("x-style"),
                    wire_name=prop.get("x-name"),
                )
            )
        return cls(
            id=str(data["id"]),
            api=str(data.get("api", "")),
            method=str(data.get("method", "GET")).upper(),
            path=str(data.get("path", "")),
            summary=str(data.get("summary", "")),
            description=str(data.get("description", "")),
            parameters=tuple(params),
            request_body=data.get("requestBody"),
            params_schema=params_schema,
            source=dict(data.get("x-source") or {}),
            file=file,
            raw=data,
        )


def _plain_schema(prop: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prop.items() if not k.startswith("x-") and k != "description"}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoadError(
            f"cannot read this definition: {exc}", location=SourceLocation(str(path))
        ) from exc


def _definition_files(folder: Path) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``([(directory, file name)] of definitions, {api directory: its index file})``.

    Plain strings and ``os.scandir``: a catalogue of thousands of operations is listed
    on every command, and ``Path`` objects for each file cost more than the listing.
    Files come in the order ``Path`` sorting gives (``a.json`` < ``api/b.json`` <
    ``b.json``), as the glob this replaces did: a later file wins on an equal id.
    """
    found: list[tuple[tuple[str, ...], str, str]] = []
    indexes: dict[str, str] = {}

    def take(directory: str, sub: str | None) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if sub is not None and name == INDEX_NAME:
                    indexes[directory] = entry.path
                elif (
                    name.endswith(".json")
                    and name not in PROFILE_NAMES
                    and not name.endswith(".schema.json")
                ):
                    found.append(((name,) if sub is None else (sub, name), directory, name))
                elif sub is None and entry.is_dir():
                    take(entry.path, name)

    try:
        take(str(folder), None)
    except OSError:
        pass  # an unreadable folder adds nothing, as an empty one would
    found.sort()
    return [(directory, name) for _, directory, name in found], indexes


class Catalogue:
    """Operation definitions from one or more folders, read lazily and cached."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = tuple(folders)
        self._files: dict[str, tuple[str, str, Path]] = {}  # id -> (dir, file name, folder)
        self._indexes: dict[str, str] = {}  # api folder -> its index file
        self._cache: dict[str, OperationDefinition] = {}
        self._entries: dict[str, CatalogueEntry] = {}
        self._lines: tuple[dict[str, str], list[str]] | None = None
        self._profiles: dict[str, ApiProfile | None] = {}
        for folder in self.folders:
            files, indexes = _definition_files(folder)
            self._indexes.update(indexes)
            for directory, name in files:
                self._files[name[: -len(".json")]] = (directory, name, folder)

    @classmethod
    def load(cls, extra_dirs: Sequence[str | Path] = ()) -> Catalogue:
        """The built-in folder plus ``extra_dirs`` (later folders win on equal ids)."""
        folders = [builtin_definitions_dir(), *(Path(d) for d in extra_dirs)]
        return cls([f for f in folders if f.is_dir()])

    def ids(self) -> list[str]:
        return sorted(self._files)

    def __contains__(self, op_id: object) -> bool:
        return op_id in self._files

    def __len__(self) -> int:
        return len(self._files)

    def get(self, op_id: str) -> OperationDefinition:
        """The definition of ``op_id``; an unknown id suggests the closest known ones."""
        if op_id in self._cache:
            return self._cache[op_id]
        if op_id not in self._files:
            raise UnresolvedReferenceError(
                f"unknown operation {op_id!r}",
                hint=did_you_mean(op_id, self.ids(), n=3) or "see 'task-runner apis list'",
            )
        directory, name, folder = self._files[op_id]
        path = Path(directory, name)
        definition = self._read(op_id, path, folder)
        self._cache[op_id] = definition
        return definition

    def _read(self, op_id: str, path: Path, folder: Path) -> OperationDefinition:
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("id") != op_id:
            raise LoadError(
                f"this file does not define operation {op_id!r} (its 'id' must match the file name)",
                location=SourceLocation(str(path)),
            )
        schema_file = folder.parent / str(data.get("x-params-schema", ""))
        if data.get("x-params-schema") and schema_file.is_file():
            schema = _read_json(schema_file)
        else:  # a definition without its schema file: derive it the way the generator does
            from task_runner.catalogue.schema_rules import params_schema

            schema = params_schema(data)
        return OperationDefinition.from_dict(data, schema, file=str(path))

    def all(self) -> list[OperationDefinition]:
        return [self.get(op_id) for op_id in self.ids()]

    def _index_lines(self) -> tuple[dict[str, str], list[str]]:
        """``({id: index line}, [ids no index lists])``, read once."""
        if self._lines is None:
            by_directory: dict[str, dict[str, str]] = {}
            lines: dict[str, str] = {}
            missing: list[str] = []
            for op_id in self.ids():
                directory = self._files[op_id][0]
                if directory not in by_directory:
                    index = self._indexes.get(directory)
                    by_directory[directory] = read_index(Path(index)) if index else {}
                line = by_directory[directory].get(op_id)
                if line is None:
                    missing.append(op_id)
                else:
                    lines[op_id] = line
            self._lines = (lines, missing)
        return self._lines

    def entry(self, op_id: str) -> CatalogueEntry:
        """The :class:`CatalogueEntry` of ``op_id``: its index line, else its definition."""
        if op_id not in self._entries:
            line = self._index_lines()[0].get(op_id)
            entry = None
            if line is not None:
                try:
                    entry = CatalogueEntry.from_json(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    entry = None  # a damaged line: the definition says the same, slower
            if entry is None or entry.id != op_id:
                entry = CatalogueEntry.from_definition(self.get(op_id))
            self._entries[op_id] = entry
        return self._entries[op_id]

    def entries(self) -> list[CatalogueEntry]:
        """Every operation as a :class:`CatalogueEntry`, sorted by id."""
        return [self.entry(op_id) for op_id in self.ids()]

    def search_entries(self, query: str) -> list[CatalogueEntry]:
        """Entries matching every word of ``query`` in id, path, summary or parameter
        names, best first (id matches weigh most); see :mod:`~task_runner.catalogue.search`.

        An index line that does not even contain every word is not parsed: on thousands
        of operations, parsing is what a search would spend its time on.
        """
        from task_runner.catalogue.search import Query, rank_key

        scorer = Query(query.split())
        lines, missing = self._index_lines()
        candidates = [i for i, line in lines.items() if scorer.may_match(line.lower())]
        entries = [self.entry(op_id) for op_id in sorted([*candidates, *missing])]
        scored = [(rank_key(scorer.score(e.search_fields()), e.id), e) for e in entries]
        return [e for key, e in sorted(scored, key=lambda t: t[0]) if key[0] < 0]

    def search(self, query: str) -> list[OperationDefinition]:
        """Definitions matching every word of ``query`` in id, path, summary or parameter
        names, best first (id matches weigh most)."""
        return [self.get(e.id) for e in self.search_entries(query)]

    def profile(self, api: str) -> ApiProfile | None:
        """The API profile of ``api`` from the last folder that has one, or None.

        Read once per catalogue, like definitions: every connection of every workflow
        loaded with this catalogue asks for it.
        """
        if api not in self._profiles:
            self._profiles[api] = self._read_profile(api)
        return self._profiles[api]

    def _read_profile(self, api: str) -> ApiProfile | None:
        from task_runner.catalogue.profile import load_profile

        for folder in reversed(self.folders):
            for name in PROFILE_NAMES:
                path = folder / api / name
                if path.is_file():
                    return load_profile(path, api)
        return None
