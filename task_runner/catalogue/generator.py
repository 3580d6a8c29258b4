"""Turn API references into committed definitions and params schemas, and check them.

``generate`` reads every source (reference text pages and OpenAPI 3 documents, told
apart by content), builds every file in memory, and only then writes them, each to a
temp file in its folder followed by ``os.replace``: a source it cannot read raises a
located :class:`~task_runner.errors.DefinitionError` and nothing is written.

Output is deterministic (``indent=2``, a trailing newline, page order kept), so that
``check`` can regenerate every committed definition from the source recorded in its
``x-source`` and list the files that differ.

Beside the definitions of an API, ``generate`` writes ``<api>/index.jsonl`` (what
``apis list``/``search`` read instead of every definition, see
:mod:`~task_runner.catalogue.catalogue`), the API's editor schema
``schemas/<api>.editor.schema.json`` (every operation's params as an editor checks them,
:mod:`~task_runner.catalogue.editor_schema`), ``schemas/workflow.schema.json`` when the
schemas folder holds one (its ``operations`` part names the APIs of the definitions
folder, :mod:`task_runner.schema_fragments`) and, for an OpenAPI document of an API
without a hand-written profile, ``<api>/profile.yaml`` marked as generated on its first
line (:mod:`~task_runner.catalogue.openapi_profile`). An OpenAPI operation that cannot be
imported is skipped and reported in :attr:`Generation.skipped` (``strict`` raises
instead); definitions an earlier run made from the same source that it no longer
gives are removed.

Example::

    written = generate([Path("task_definitions/procore/reference/images.txt")], "procore",
                       Path("task_definitions"), Path("schemas"))
    assert check(Path(".")) == []
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.catalogue.catalogue import PROFILE_NAMES
from task_runner.errors import DefinitionError, LoadError, SourceLocation, raise_if_any

if TYPE_CHECKING:
    from task_runner.catalogue.catalogue import OperationDefinition

__all__ = [
    "SOURCE_FORMATS",
    "Generation",
    "build",
    "check",
    "dump",
    "generate",
    "prepare",
    "read_source",
    "write",
]

SOURCE_FORMATS = ("reference-text", "openapi")
PROFILE_STEMS = ("profile",)


def dump(obj: Any) -> str:
    """The one JSON layout of generated files: indent 2, non-ASCII kept, trailing newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def read_source(path: Path) -> tuple[str, str]:
    """``(text, sha256)`` of a source file; missing, unreadable or binary -> located error."""
    import hashlib

    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DefinitionError(
            f"cannot read the reference: {reason}", location=SourceLocation(str(path))
        ) from exc
    if b"\x00" in data:
        raise DefinitionError(
            "this is a binary file, not an API reference", location=SourceLocation(str(path))
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DefinitionError(
            "this file is not UTF-8 text", location=SourceLocation(str(path), line, 1)
        ) from exc
    return text, hashlib.sha256(data).hexdigest()


def _detect_format(text: str) -> str:
    """OpenAPI documents are JSON or YAML mappings with an ``openapi`` key; pages are not."""
    from task_runner.catalogue.openapi import looks_like_openapi

    return "openapi" if looks_like_openapi(text) else "reference-text"


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


@dataclass
class Generation:
    """What one ``apis generate`` gives: files by path, and what the user should hear.

    ``files`` holds every definition and params schema, the API's index and, for an
    OpenAPI source of an API without a hand-written profile, the generated profile.
    ``stale`` lists committed files of the same sources that they no longer give.
    """

    files: dict[Path, str] = field(default_factory=dict)
    operations: int = 0
    skipped: list[DefinitionError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: Path | None = None
    kept_profile: Path | None = None
    stale: list[Path] = field(default_factory=list)
    definitions: dict[str, OperationDefinition] = field(default_factory=dict)


@dataclass
class _Parsed:
    definitions: list[dict[str, Any]]
    skipped: list[DefinitionError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: dict[str, Any] | None = None


def _parse(
    path: Path, text: str, api: str, fmt: str, bracket_arrays: bool, sort_prefix: str | None
) -> _Parsed:
    if fmt == "openapi":
        from task_runner.catalogue.openapi import read_openapi

        result = read_openapi(
            text, str(path), api, bracket_arrays=bracket_arrays, sort_prefix=sort_prefix
        )
        return _Parsed(result.definitions, result.skipped, result.notes, result.profile)
    from task_runner.catalogue.reference_parser import parse_reference

    return _Parsed([parse_reference(text, str(path), api)])


def _existing_profile(out_dir: Path, api: str) -> Path | None:
    return next((p for p in (out_dir / api / n for n in PROFILE_NAMES) if p.is_file()), None)


def _bracket_arrays(profile_file: Path | None, api: str) -> bool:
    """Whether the API's hand-written profile asks for ``name[]=..`` arrays (Procore)."""
    if profile_file is None:
        return False
    from task_runner.catalogue.profile import load_profile

    return load_profile(profile_file, api).query_encoding.get("arrays") == "brackets"


def _sort_prefix(profile_file: Path | None, api: str) -> str | None:
    """The hand-written profile's descending-sort prefix (Procore: ``-``), if it has one."""
    if profile_file is None:
        return None
    from task_runner.catalogue.profile import load_profile

    prefix = load_profile(profile_file, api).query_encoding.get("sort_descending_prefix")
    return str(prefix) if prefix else None


def _on_disk(out_dir: Path, api: str) -> dict[str, OperationDefinition]:
    """The readable definitions already in ``out_dir/<api>/`` (unreadable ones are left
    to fail where they are used)."""
    from task_runner.catalogue.catalogue import Catalogue

    if not (out_dir / api).is_dir():
        return {}
    catalogue = Catalogue([out_dir])
    found: dict[str, OperationDefinition] = {}
    for op_id in catalogue.ids():
        try:
            definition = catalogue.get(op_id)
        except LoadError:
            continue
        if Path(definition.file).parent == out_dir / api:
            found[op_id] = definition
    return found


def _index(
    api: str, fresh: dict[str, OperationDefinition], kept: dict[str, OperationDefinition]
) -> str:
    from task_runner.catalogue.index import CatalogueEntry, index_text

    definitions = {**kept, **fresh}
    return index_text(api, [CatalogueEntry.from_definition(d) for d in definitions.values()])


def _stale(
    on_disk: dict[str, OperationDefinition], sources: set[str], fresh: set[str], root: Path
) -> dict[str, list[Path]]:
    """Definitions from these sources that they no longer give, with their schema files."""
    stale: dict[str, list[Path]] = {}
    for op_id, definition in on_disk.items():
        if op_id not in fresh and str(definition.source.get("file")) in sources:
            paths = [Path(definition.file)]
            schema = definition.raw.get("x-params-schema")
            if schema and (root / str(schema)).is_file():
                paths.append(root / str(schema))
            stale[op_id] = paths
    return stale


def prepare(
    sources: Sequence[Path],
    api: str,
    out_dir: Path,
    schemas_dir: Path,
    *,
    root: Path | None = None,
    strict: bool = False,
    with_index: bool = True,
) -> Generation:
    """Everything ``generate`` would write (and remove), without touching any file.

    ``root`` (default: the parent of ``out_dir``) is what ``x-source`` and
    ``x-params-schema`` paths are relative to: the repository root. With ``strict``, a
    skipped operation raises (every skip, located) instead of being reported.
    """
    from task_runner.catalogue.index import INDEX_NAME
    from task_runner.catalogue.openapi_profile import is_generated

    root = root if root is not None else out_dir.resolve().parent
    existing_profile = _existing_profile(out_dir, api)
    hand_written = None
    if existing_profile is not None and not is_generated(existing_profile):
        hand_written = existing_profile
    bracket_arrays = _bracket_arrays(hand_written, api)
    sort_prefix = _sort_prefix(hand_written, api)
    generation = Generation()
    fresh = generation.definitions
    seen: dict[str, str] = {}
    for source in sources:
        text, digest = read_source(source)
        fmt = _detect_format(text)
        parsed = _parse(source, text, api, fmt, bracket_arrays, sort_prefix)
        generation.skipped += parsed.skipped
        generation.notes += parsed.notes
        provenance = {"file": _relative(source, root), "sha256": digest, "format": fmt}
        for definition in parsed.definitions:
            op_id = definition["id"]
            if op_id in seen:
                raise DefinitionError(
                    f"operation id {op_id!r} is generated twice (also from {seen[op_id]})",
                    location=SourceLocation(str(source)),
                )
            seen[op_id] = str(source)
            schema_path = schemas_dir / api / f"{op_id}.schema.json"
            definition["x-source"] = dict(provenance)
            definition["x-params-schema"] = _relative(schema_path, root)
            fresh[op_id] = _add_definition(generation, definition, out_dir / api, schema_path)
        if parsed.profile is not None:
            _add_profile(
                generation, parsed, out_dir / api, hand_written or existing_profile, source, root
            )
    generation.operations = len(fresh)
    if strict:
        raise_if_any(generation.skipped)
    if with_index:
        on_disk = _on_disk(out_dir, api)
        stale = _stale(on_disk, {_relative(s, root) for s in sources}, set(fresh), root)
        generation.stale = [p for paths in stale.values() for p in paths]
        kept = {k: v for k, v in on_disk.items() if k not in stale}
        generation.files[out_dir / api / INDEX_NAME] = _index(api, fresh, kept)
        _add_editor_files(generation.files, api, {**kept, **fresh}, out_dir, schemas_dir)
    return generation


def _add_editor_files(
    files: dict[Path, str],
    api: str,
    definitions: dict[str, OperationDefinition],
    out_dir: Path,
    schemas_dir: Path,
) -> None:
    """The API's editor schema, and the workflow schema beside it (when there is one)
    routing to every API of ``out_dir`` and this one."""
    from task_runner.catalogue.editor_schema import api_schema_text, editor_file
    from task_runner.schema_fragments import catalogue_apis

    files[editor_file(schemas_dir, api)] = api_schema_text(api, definitions.values())
    workflow = _workflow_schema(schemas_dir, [*catalogue_apis(out_dir), api])
    if workflow is not None:
        files[workflow[0]] = workflow[1]


def _workflow_schema(schemas_dir: Path, apis: Iterable[str]) -> tuple[Path, str] | None:
    """``(path, text)`` of ``schemas_dir/workflow.schema.json`` regenerated, if it exists."""
    from task_runner.schema_fragments import WORKFLOW_SCHEMA, schema_text

    path = schemas_dir / WORKFLOW_SCHEMA
    if not path.is_file():
        return None
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoadError(
            f"cannot read the workflow schema: {exc}", location=SourceLocation(str(path))
        ) from exc
    return path, schema_text(schema, apis)


def _add_definition(
    generation: Generation, definition: dict[str, Any], api_dir: Path, schema_path: Path
) -> OperationDefinition:
    """Add a definition's file and its params schema's; the definition as the catalogue
    will read it (for the index)."""
    from task_runner.catalogue.catalogue import OperationDefinition
    from task_runner.catalogue.schema_rules import params_schema

    schema = params_schema(definition)
    generation.files[api_dir / f"{definition['id']}.json"] = dump(definition)
    generation.files[schema_path] = dump(schema)
    return OperationDefinition.from_dict(definition, schema)


def _add_profile(
    generation: Generation,
    parsed: _Parsed,
    api_dir: Path,
    existing: Path | None,
    source: Path,
    root: Path,
) -> None:
    """The generated profile of the first OpenAPI source, unless one is hand-written."""
    from task_runner.catalogue.openapi_profile import is_generated, render_profile

    if generation.profile is not None or generation.kept_profile is not None:
        return
    if existing is not None and not is_generated(existing):
        generation.kept_profile = existing
        return
    assert parsed.profile is not None
    target = existing or api_dir / "profile.yaml"
    generation.files[target] = render_profile(parsed.profile, _relative(source, root), parsed.notes)
    generation.profile = target


def build(
    sources: Sequence[Path], api: str, out_dir: Path, schemas_dir: Path, *, root: Path | None = None
) -> dict[Path, str]:
    """Every file ``generate`` would write, path -> text, without writing anything."""
    return prepare(sources, api, out_dir, schemas_dir, root=root).files


def _write_all(files: dict[Path, str]) -> None:
    """Write every file to a temp file beside it first, then rename them all."""
    import tempfile

    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            # mkstemp's file is private (0600); a generated file is as readable as the
            # one it replaces, or as a file the user saves (0644)
            os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            staged.append((tmp, path))
    except OSError as exc:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise LoadError(f"cannot write generated files: {exc}") from exc
    for tmp, path in staged:
        os.replace(tmp, path)


def write(generation: Generation) -> None:
    """Write a prepared generation's files and remove its stale ones."""
    _write_all(generation.files)
    for path in generation.stale:
        path.unlink(missing_ok=True)


def generate(
    sources: Sequence[Path],
    api: str,
    out_dir: Path,
    schemas_dir: Path,
    *,
    root: Path | None = None,
    strict: bool = False,
) -> list[Path]:
    """Generate definitions under ``out_dir/<api>/`` and schemas under ``schemas_dir/<api>/``
    (with the API's index, and a generated profile when it has no hand-written one).

    Returns the written paths, sorted. Nothing is written when any source fails.
    """
    generation = prepare(sources, api, out_dir, schemas_dir, root=root, strict=strict)
    write(generation)
    return sorted(generation.files)


# --- check --------------------------------------------------------------------------


def _committed_definitions(definitions_dir: Path) -> Iterable[tuple[Path, dict[str, Any]]]:
    for path in sorted(definitions_dir.glob("*/*.json")):
        if path.stem in PROFILE_STEMS:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LoadError(
                f"cannot read this definition: {exc}", location=SourceLocation(str(path))
            ) from exc
        if isinstance(data, dict) and isinstance(data.get("x-source"), dict):
            yield path, data


def _schemas_root(definition: dict[str, Any], root: Path) -> Path:
    """``schemas/procore/procore.images.list.schema.json`` -> ``<root>/schemas``."""
    recorded = Path(str(definition.get("x-params-schema", f"schemas/{definition['api']}/x.json")))
    return root / recorded.parent.parent


def check(repo_root: Path) -> list[str]:
    """Regenerate every committed definition from its ``x-source``; list files that differ.

    A file differs when its text is not what generation gives (definitions, schemas,
    generated profiles, each API's index, each API's editor schema, the workflow
    schema's generated parts), when generation gives a file that is not committed, or
    when a committed definition is no longer generated. Paths are relative to
    ``repo_root``, sorted.
    """
    definitions_dir = repo_root / "task_definitions"
    groups: dict[tuple[str, str, Path], list[Path]] = {}
    for path, data in _committed_definitions(definitions_dir):
        key = (
            str(data.get("api", path.parent.name)),
            str(data["x-source"].get("file", "")),
            _schemas_root(data, repo_root),
        )
        groups.setdefault(key, []).append(path)
    differing: set[Path] = set()
    expected: dict[Path, str] = {}
    fresh: dict[str, dict[str, OperationDefinition]] = {}
    schemas_dirs: dict[str, Path] = {}
    for (api, source, schemas_dir), committed in sorted(groups.items()):
        schemas_dirs.setdefault(api, schemas_dir)
        generation = prepare(
            [repo_root / source],
            api,
            definitions_dir,
            schemas_dir,
            root=repo_root,
            with_index=False,
        )
        for path, text in generation.files.items():
            expected.setdefault(path, text)
        fresh.setdefault(api, {}).update(generation.definitions)
        differing.update(p for p in committed if p not in generation.files)
    expected.update(_expected_catalogue_files(repo_root, fresh, schemas_dirs))
    for path, text in expected.items():
        if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
            differing.add(path)
    return sorted(_relative(p, repo_root) for p in differing)


def _expected_catalogue_files(
    repo_root: Path,
    fresh: dict[str, dict[str, OperationDefinition]],
    schemas_dirs: dict[str, Path],
) -> dict[Path, str]:
    """Each regenerated API's index; every API's editor schema (hand-written definitions
    included); the workflow schema routing to them all, when it is there."""
    from task_runner.catalogue.editor_schema import api_schema_text, editor_file
    from task_runner.catalogue.index import INDEX_NAME
    from task_runner.schema_fragments import catalogue_apis

    definitions_dir = repo_root / "task_definitions"
    apis = catalogue_apis(definitions_dir) if definitions_dir.is_dir() else []
    expected: dict[Path, str] = {}
    for api in sorted({*apis, *fresh}):
        definitions = fresh.get(api, {})
        on_disk = _on_disk(definitions_dir, api)
        kept = {k: d for k, d in on_disk.items() if k not in definitions and not d.source}
        if api in fresh:
            expected[definitions_dir / api / INDEX_NAME] = _index(api, definitions, kept)
        schemas_dir = schemas_dirs.get(api, repo_root / "schemas")
        both = {**kept, **definitions}
        expected[editor_file(schemas_dir, api)] = api_schema_text(api, both.values())
    workflow = _workflow_schema(repo_root / "schemas", sorted({*apis, *fresh}))
    if workflow is not None:
        expected[workflow[0]] = workflow[1]
    return expected
