"""Safe YAML loading that remembers where every value came from.

Mappings load as :class:`LocatedDict` and sequences as :class:`LocatedList`: plain
``dict``/``list`` subclasses (jsonschema and Jinja see ordinary containers) that also
know the line and column of each key and item. Duplicate keys are an error; anchors,
aliases and merge keys (``<<``) work; dates stay strings (``2024-05-01`` is what the
user typed, and what an API expects to receive).

Example::

    data = load_yaml_text("a:\\n  b: 1\\n", "wf.yaml")
    locate(data, ("a", "b"))   # SourceLocation("wf.yaml", 2, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from task_runner.errors import LoadError, SourceLocation

__all__ = ["LocatedDict", "LocatedList", "load_yaml_file", "load_yaml_text", "locate"]


class LocatedDict(dict):  # type: ignore[type-arg]
    """A dict that knows where it, its keys and its values stand in the file."""

    location: SourceLocation
    key_locations: dict[Any, SourceLocation]
    value_locations: dict[Any, SourceLocation]


class LocatedList(list):  # type: ignore[type-arg]
    """A list that knows where it and its items stand in the file."""

    location: SourceLocation
    item_locations: list[SourceLocation]


def _loc(file: str, mark: yaml.Mark | None) -> SourceLocation:
    if mark is None:
        return SourceLocation(file)
    return SourceLocation(file, mark.line + 1, mark.column + 1)


class _Loader(yaml.SafeLoader):
    filename = "<string>"

    def construct_located_mapping(self, node: yaml.MappingNode) -> LocatedDict:
        seen: dict[tuple[type, Any], yaml.Node] = {}  # 1 and true are different keys
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise LoadError(
                    "a mapping key must be a plain value",
                    location=_loc(self.filename, key_node.start_mark),
                )
            if (type(key), key) in seen:
                first = _loc(self.filename, seen[(type(key), key)].start_mark)
                raise LoadError(
                    f"duplicate key {key!r} (first defined at line {first.line})",
                    location=_loc(self.filename, key_node.start_mark),
                    hint="remove or rename one of them",
                )
            seen[(type(key), key)] = key_node
        self.flatten_mapping(node)  # resolves `<<` merge keys
        result = LocatedDict()
        result.location = _loc(self.filename, node.start_mark)
        result.key_locations = {}
        result.value_locations = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (int, float, bool)) or key is None:
                key = str(key).lower() if isinstance(key, bool) or key is None else str(key)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_locations[key] = _loc(self.filename, key_node.start_mark)
            result.value_locations[key] = _loc(self.filename, value_node.start_mark)
        return result

    def construct_located_sequence(self, node: yaml.SequenceNode) -> LocatedList:
        result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
        result.location = _loc(self.filename, node.start_mark)
        result.item_locations = [_loc(self.filename, child.start_mark) for child in node.value]
        return result


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_located_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_located_sequence)
# Keep dates and timestamps as the strings the user wrote.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_text(text: str, filename: str = "<string>") -> Any:
    """Parse one YAML document; raise :class:`LoadError` with its location on any problem."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        loader.filename = filename
        node = loader.get_single_node()
        if node is None:
            return None
        return loader.construct_document(node)
    except LoadError:
        raise
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise LoadError(
            f"the file holds a character YAML does not allow ({exc.character!r})",
            location=SourceLocation(filename, line, column),
            hint="remove it or quote the value",
        ) from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "invalid YAML"
        mark = exc.problem_mark or exc.context_mark
        if "<stream end>" in problem and exc.context_mark is not None:
            # An unclosed bracket or quote: point where it was opened, not at the file's end.
            mark = exc.context_mark
            problem = f"{exc.context}, but the file ended before it was closed"
        if "expected a single document" in str(exc.context or ""):
            problem = "the file holds more than one YAML document; keep one workflow per file"
        raise LoadError(f"YAML syntax error: {problem}", location=_loc(filename, mark)) from None
    except yaml.YAMLError as exc:
        raise LoadError(f"YAML error: {exc}", location=SourceLocation(filename)) from None
    except RecursionError:
        raise LoadError("the YAML nests too deeply", location=SourceLocation(filename)) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml_file(path: str | Path) -> Any:
    """Read and parse a YAML file; missing, unreadable and binary files are :class:`LoadError`."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise LoadError("file not found", location=SourceLocation(name)) from None
    except IsADirectoryError:
        raise LoadError("is a folder, not a file", location=SourceLocation(name)) from None
    except OSError as exc:
        raise LoadError(
            f"cannot read the file: {exc.strerror}", location=SourceLocation(name)
        ) from None
    if b"\x00" in raw:
        raise LoadError("is a binary file, not YAML", location=SourceLocation(name))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"is not UTF-8 text (byte {exc.start})", location=SourceLocation(name)
        ) from None
    return load_yaml_text(text, name)


def locate(data: Any, path: Sequence[Any], *, key: bool = False) -> SourceLocation | None:
    """The location of the value (or, with ``key=True``, the key) at ``path`` in ``data``.

    Walks as far as the path exists and returns the deepest known location, so an error
    about a missing key points at the mapping that should hold it.
    """
    node = data
    best: SourceLocation | None = getattr(data, "location", None)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, LocatedDict) and part in node:
            locs = node.key_locations if (key and last) else node.value_locations
            best = locs.get(part, best)
            node = node[part]
        elif isinstance(node, LocatedList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_locations[part]
            node = node[part]
        else:
            break
    return best
