"""Turn API references into committed definitions and params schemas, and check them.

``generate`` reads every source (reference text pages and OpenAPI 3 documents, told
apart by content), builds every file in memory, and only then writes them, each to a
temp file in its folder followed by ``os.replace``: a source it cannot read raises a
located :class:`~task_runner.errors.DefinitionError` and nothing is written.

Output is deterministic (``indent=2``, a trailing newline, page order kept), so that
``check`` can regenerate every committed definition from the source recorded in its
``x-source`` and list the files that differ.

Example::

    written = generate([Path("task_definitions/procore/reference/images.txt")], "procore",
                       Path("task_definitions"), Path("schemas"))
    assert check(Path(".")) == []
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from task_runner.catalogue.schema_rules import params_schema
from task_runner.errors import DefinitionError, LoadError, SourceLocation

__all__ = ["SOURCE_FORMATS", "build", "check", "dump", "generate", "read_source"]

SOURCE_FORMATS = ("reference-text", "openapi")
PROFILE_STEMS = ("profile",)


def dump(obj: Any) -> str:
    """The one JSON layout of generated files: indent 2, non-ASCII kept, trailing newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def read_source(path: Path) -> tuple[str, str]:
    """``(text, sha256)`` of a source file; missing, unreadable or binary -> located error."""
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


def _parse(path: Path, text: str, api: str, fmt: str) -> list[dict[str, Any]]:
    if fmt == "openapi":
        from task_runner.catalogue.openapi import import_openapi

        return import_openapi(text, str(path), api)
    from task_runner.catalogue.reference_parser import parse_reference

    return [parse_reference(text, str(path), api)]


def build(
    sources: Sequence[Path], api: str, out_dir: Path, schemas_dir: Path, *, root: Path | None = None
) -> dict[Path, str]:
    """Every file ``generate`` would write, path -> text, without writing anything.

    ``root`` (default: the parent of ``out_dir``) is what ``x-source`` and
    ``x-params-schema`` paths are relative to: the repository root.
    """
    root = root if root is not None else out_dir.resolve().parent
    files: dict[Path, str] = {}
    seen: dict[str, str] = {}
    for source in sources:
        text, digest = read_source(source)
        fmt = _detect_format(text)
        for definition in _parse(source, text, api, fmt):
            op_id = definition["id"]
            if op_id in seen:
                raise DefinitionError(
                    f"operation id {op_id!r} is generated twice (also from {seen[op_id]})",
                    location=SourceLocation(str(source)),
                )
            seen[op_id] = str(source)
            schema_path = schemas_dir / api / f"{op_id}.schema.json"
            definition["x-source"] = {
                "file": _relative(source, root),
                "sha256": digest,
                "format": fmt,
            }
            definition["x-params-schema"] = _relative(schema_path, root)
            files[out_dir / api / f"{op_id}.json"] = dump(definition)
            files[schema_path] = dump(params_schema(definition))
    return files


def _write_all(files: dict[Path, str]) -> None:
    """Write every file to a temp file beside it first, then rename them all."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            staged.append((tmp, path))
    except OSError as exc:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise LoadError(f"cannot write generated files: {exc}") from exc
    for tmp, path in staged:
        os.replace(tmp, path)


def generate(
    sources: Sequence[Path], api: str, out_dir: Path, schemas_dir: Path, *, root: Path | None = None
) -> list[Path]:
    """Generate definitions under ``out_dir/<api>/`` and schemas under ``schemas_dir/<api>/``.

    Returns the written paths, sorted. Nothing is written when any source fails.
    """
    files = build(sources, api, out_dir, schemas_dir, root=root)
    _write_all(files)
    return sorted(files)


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

    A file differs when its text is not what generation gives, when generation gives a
    file that is not committed, or when a committed definition is no longer generated.
    Paths are relative to ``repo_root``, sorted.
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
    for (api, source, schemas_dir), committed in sorted(groups.items()):
        expected = build([repo_root / source], api, definitions_dir, schemas_dir, root=repo_root)
        for path, text in expected.items():
            if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
                differing.add(path)
        differing.update(p for p in committed if p not in expected)
    return sorted(_relative(p, repo_root) for p in differing)
