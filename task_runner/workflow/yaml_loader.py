"""Safe YAML loading that remembers where every value came from.

Mappings load as :class:`LocatedDict` and sequences as :class:`LocatedList`: plain
``dict``/``list`` subclasses (jsonschema and Jinja see ordinary containers) that also
know the line and column of each key and item. Duplicate keys are an error; anchors,
aliases and merge keys (``<<``) work; dates stay strings (``2024-05-01`` is what the
user typed, and what an API expects to receive).

A file may have been written to hurt, so what it may cost is bounded (see
:mod:`task_runner.workflow.limits`): a file is refused, before it is read, when it is
larger than ``TASK_RUNNER_MAX_FILE_BYTES``, and while it is parsed once its values,
counting each use of an alias as all the values it repeats, pass
``TASK_RUNNER_MAX_YAML_NODES``. So a "billion laughs" of nested aliases stops after the
first hundred thousand values, before anything walks the expanded data.

libyaml's parser (when PyYAML has it) reads the events, about three times faster than
PyYAML's own; a file libyaml refuses is read again by PyYAML, whose messages (and marks)
are the ones users see. libyaml accepts tabs as separating space where PyYAML refuses
them (``a:<TAB>b``); that is valid YAML.

Example::

    data = load_yaml_text("a:\\n  b: 1\\n", "wf.yaml")
    locate(data, ("a", "b"))   # SourceLocation("wf.yaml", 2, 6)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from task_runner.errors import LoadError, SourceLocation
from task_runner.workflow.limits import MAX_FILE_BYTES, MAX_YAML_NODES, excerpt

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


class _Located(Composer, SafeConstructor, Resolver):
    """Composition that counts values and construction that records locations, shared by
    the loader on libyaml's parser and the pure-Python one."""

    filename = "<string>"

    def _limit(self, filename: str, max_nodes: int) -> None:
        self.filename = filename
        self.max_nodes = max_nodes
        self.expanded = 0  # values so far, each alias counted as all it repeats
        self.sizes: dict[yaml.Node, int] = {}  # a finished node -> its values, expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Count the values as they are composed, before anything is built from them."""
        event = self.peek_event()  # type: ignore[attr-defined]  # the parser's
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)  # unknown: the composer reports it
            self.count(self.sizes.get(target, 1) if target is not None else 0, event)
            return super().compose_node(parent, index)
        self.count(1, event)
        node = super().compose_node(parent, index)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if node is not None:
            self.sizes[node] = 1 + sum(self.sizes.get(child, 1) for child in children)
        return node

    def count(self, values: int, event: Any) -> None:
        self.expanded += values
        if self.expanded > self.max_nodes:
            raise LoadError(
                f"the YAML holds more than {self.max_nodes:,} values once its aliases are "
                "expanded (each use of an *alias counts every value it repeats)",
                location=_loc(self.filename, event.start_mark),
                hint=MAX_YAML_NODES.hint(),
            )

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
                    f"duplicate key {excerpt(key)} (first defined at line {first.line})",
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


class _Loader(_Located, Reader, Scanner, Parser):
    """PyYAML's own parser: slower, and the one whose error messages users see."""

    def __init__(self, text: str, filename: str, max_nodes: int) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._limit(filename, max_nodes)


_LOADERS: list[Callable[[str, str, int], _Located]] = [_Loader]

if yaml.__with_libyaml__:  # libyaml parses about three times faster
    from yaml._yaml import CParser

    class _CLoader(_Located, CParser):  # type: ignore[misc]
        """libyaml's parser under the same composer and constructor."""

        def __init__(self, text: str, filename: str, max_nodes: int) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._limit(filename, max_nodes)

    _LOADERS.insert(0, _CLoader)

_Located.add_constructor("tag:yaml.org,2002:map", _Located.construct_located_mapping)  # type: ignore[type-var]
_Located.add_constructor("tag:yaml.org,2002:seq", _Located.construct_located_sequence)  # type: ignore[type-var]
# Keep dates and timestamps as the strings the user wrote.
_Located.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_text(text: str, filename: str = "<string>", *, max_nodes: int | None = None) -> Any:
    """Parse one YAML document; raise :class:`LoadError` with its location on any problem.

    ``max_nodes`` (default ``TASK_RUNNER_MAX_YAML_NODES``) bounds the values, aliases
    expanded.
    """
    limit = MAX_YAML_NODES.value() if max_nodes is None else max_nodes
    for loader_class in _LOADERS[:-1]:
        # libyaml's messages differ from PyYAML's: a file it refuses is read again by PyYAML,
        # which says what is wrong the way users know (and tests check).
        try:
            return _load(loader_class(text, filename, limit))
        except (yaml.YAMLError, UnicodeError):  # libyaml takes UTF-8 only: no lone surrogates
            continue
    try:
        return _load(_LOADERS[-1](text, filename, limit))
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


def _load(loader: _Located) -> Any:
    try:
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)
    except RecursionError:
        raise LoadError(
            "the YAML nests too deeply", location=SourceLocation(loader.filename)
        ) from None
    finally:
        loader.dispose()  # type: ignore[attr-defined]


def load_yaml_file(
    path: str | Path, *, max_bytes: int | None = None, max_nodes: int | None = None
) -> Any:
    """Read and parse a YAML file; missing, unreadable, binary and too large files are
    :class:`LoadError`. ``max_bytes`` defaults to ``TASK_RUNNER_MAX_FILE_BYTES``."""
    raw = read_bounded(path, MAX_FILE_BYTES.value() if max_bytes is None else max_bytes)
    name = str(path)
    if b"\x00" in raw:
        raise LoadError("is a binary file, not YAML", location=SourceLocation(name))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"is not UTF-8 text (byte {exc.start})", location=SourceLocation(name)
        ) from None
    del raw
    return load_yaml_text(text, name, max_nodes=max_nodes)


def read_bounded(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, refused when there are more than ``max_bytes``: by its size
    before reading, and by reading at most one byte more (a pipe or a growing file has no
    size to trust)."""
    name = str(path)
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes:
                _too_large(name, max_bytes, size)
            raw = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise LoadError("file not found", location=SourceLocation(name)) from None
    except IsADirectoryError:
        raise LoadError("is a folder, not a file", location=SourceLocation(name)) from None
    except OSError as exc:
        raise LoadError(
            f"cannot read the file: {exc.strerror}", location=SourceLocation(name)
        ) from None
    if len(raw) > max_bytes:
        _too_large(name, max_bytes)
    return raw


def _too_large(name: str, max_bytes: int, size: int | None = None) -> NoReturn:
    what = f"{size:,} bytes, more than" if size is not None else "larger than"
    raise LoadError(
        f"the file is {what} the {max_bytes:,} bytes a workflow file may have",
        location=SourceLocation(name),
        hint=MAX_FILE_BYTES.hint(),
    )


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
