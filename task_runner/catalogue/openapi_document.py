"""Read an OpenAPI document: parse it, follow its ``$ref``s, say where a node is.

JSON documents are parsed with :mod:`json`, YAML ones with PyYAML's C loader when there
is one, without YAML 1.1 timestamps (``2024-01-01`` stays a string, as in JSON). Only
local ``$ref``s (``#/...``) are followed. Positions are found only when an error needs
one: by composing the YAML, or by skimming the JSON text (:class:`JsonPositions`), so a
large document costs one parse, not two.

Example::

    doc = Document(text, "pets.yaml")
    doc.follow({"$ref": "#/components/schemas/Pet"})     # the Pet schema, or None
    doc.error("a parameter needs a 'name'", ("paths", "/pets", "get", "parameters", 0))
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml

from task_runner.errors import DefinitionError, SourceLocation

__all__ = ["Document", "JsonPositions", "Pointer", "format_pointer"]

_MAX_REF_DEPTH = 64
_WHITESPACE = re.compile(r"[ \t\n\r]*")

Pointer = tuple[str | int, ...]


def _yaml_loader() -> type:
    """The C loader when there is one (large documents), without YAML 1.1 timestamps:
    ``2024-01-01`` stays the string it is in JSON, so definitions can be dumped as JSON."""
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[valid-type,misc]
        pass

    Loader.yaml_implicit_resolvers = {
        first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return Loader


def _mark_positions(node: yaml.Node, pointer: Pointer, out: dict[Pointer, tuple[int, int]]) -> None:
    out[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _mark_positions(value, (*pointer, str(key.value)), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _mark_positions(item, (*pointer, index), out)


class JsonPositions:
    """Offsets of JSON values by pointer, found by skimming the text with the C decoder.

    Each object or array on the way to a pointer is skimmed once and the offsets of all
    its members kept, so locating every skipped operation of a large document costs
    about one more parse, not one per operation.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()
        self.offsets: dict[Pointer, int] = {(): _WHITESPACE.match(text, 0).end()}  # type: ignore[union-attr]
        self.skimmed: set[Pointer] = set()

    def _ws(self, index: int) -> int:
        return _WHITESPACE.match(self.text, index).end()  # type: ignore[union-attr]

    def _skim(self, pointer: Pointer) -> None:
        self.skimmed.add(pointer)
        text, index = self.text, self.offsets[pointer]
        opener = text[index : index + 1]
        if opener not in ("{", "["):
            return
        closer, position = ("}" if opener == "{" else "]"), 0
        index = self._ws(index + 1)
        while index < len(text) and text[index] != closer:
            if opener == "{":
                key, index = self.decoder.raw_decode(text, index)
                index = self._ws(self._ws(index) + 1)  # past the ':'
                member: str | int = str(key)
            else:
                member, position = position, position + 1
            child: Pointer = (*pointer, member)
            self.offsets[child] = index
            _, index = self.decoder.raw_decode(text, index)
            index = self._ws(index)
            if text[index : index + 1] == ",":
                index = self._ws(index + 1)

    def find(self, pointer: Pointer) -> int:
        """The offset of the deepest value on ``pointer`` that exists."""
        found = self.offsets[()]
        for length in range(1, len(pointer) + 1):
            parent = pointer[: length - 1]
            if parent not in self.skimmed:
                try:
                    self._skim(parent)
                except (ValueError, IndexError):
                    return found
            if pointer[:length] not in self.offsets:
                return found
            found = self.offsets[pointer[:length]]
        return found


class Document:
    """The parsed document, its file name, and lazily the line/column of each node."""

    def __init__(self, text: str, file: str) -> None:
        self.text, self.file = text, file
        self.is_json = text.lstrip().startswith("{")
        self._positions: dict[Pointer, tuple[int, int]] | None = None
        self._json_positions: JsonPositions | None = None
        self.data = self._load()

    def _load(self) -> Any:
        try:
            if self.is_json:
                return json.loads(self.text)
            return yaml.load(self.text, Loader=_yaml_loader())
        except json.JSONDecodeError as exc:
            raise DefinitionError(
                f"invalid JSON: {exc.msg}",
                location=SourceLocation(self.file, exc.lineno, exc.colno),
            ) from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = (
                SourceLocation(self.file, mark.line + 1, mark.column + 1)
                if mark
                else SourceLocation(self.file)
            )
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise DefinitionError(f"invalid YAML: {problem}", location=where) from exc

    def location(self, pointer: Pointer) -> SourceLocation:
        if self.is_json:
            if self._json_positions is None:
                self._json_positions = JsonPositions(self.text)
            offset = self._json_positions.find(pointer)
            line = self.text.count("\n", 0, offset) + 1
            return SourceLocation(self.file, line, offset - self.text.rfind("\n", 0, offset))
        if self._positions is None:
            self._positions = {}
            try:
                node = yaml.compose(self.text, Loader=_yaml_loader())
                if node is not None:
                    _mark_positions(node, (), self._positions)
            except yaml.YAMLError:
                pass  # errors keep the file only
        for length in range(len(pointer), -1, -1):
            found = self._positions.get(pointer[:length])
            if found:
                return SourceLocation(self.file, *found)
        return SourceLocation(self.file)

    def error(self, message: str, pointer: Pointer, hint: str | None = None) -> DefinitionError:
        return DefinitionError(
            message, location=self.location(pointer), path=format_pointer(pointer), hint=hint
        )

    def mapping(self, value: Any, pointer: Pointer, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(f"{what} must be a mapping", pointer)
        return value

    # --- $ref ------------------------------------------------------------------------

    def target(self, ref: Any) -> Any:
        """What a local ``$ref`` points to; ``KeyError`` when it points to nothing."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise KeyError(ref)
        found: Any = self.data
        for raw in [p for p in ref[1:].split("/") if p]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(found, dict) and part in found:
                found = found[part]
            elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
                found = found[int(part)]
            else:
                raise KeyError(ref)
        return found

    def lookup(self, ref: Any, pointer: Pointer) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise self.error(f"only local $refs ('#/...') are supported, found {ref!r}", pointer)
        try:
            return self.target(ref)
        except KeyError:
            raise self.error(f"$ref {ref!r} points to nothing", pointer) from None

    def follow(self, value: Any) -> Any:
        """``value`` with its ``$ref`` chain followed, or None when a link is broken."""
        for _ in range(_MAX_REF_DEPTH):
            if not (isinstance(value, dict) and "$ref" in value):
                return value
            try:
                value = self.target(value["$ref"])
            except KeyError:
                return None
        return None

    def resolve(self, value: Any, pointer: Pointer, seen: tuple[str, ...] = ()) -> Any:
        """A deep copy of ``value`` with every local ``$ref`` replaced by its target."""
        if len(seen) > _MAX_REF_DEPTH:
            raise self.error("$refs nest too deeply", pointer)
        if isinstance(value, dict):
            if "$ref" in value:
                ref = value["$ref"]
                target = self.lookup(ref, (*pointer, "$ref"))
                if ref in seen:
                    return {}  # recursive schema: cut here, see the module docstring
                return self.resolve(target, (*pointer, "$ref"), (*seen, ref))
            return {k: self.resolve(v, (*pointer, k), seen) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, (*pointer, i), seen) for i, v in enumerate(value)]
        return copy.deepcopy(value)


def format_pointer(pointer: Pointer) -> str:
    return "/".join(str(p) for p in pointer)
