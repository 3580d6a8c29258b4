"""Where things stand in a workflow buffer: YAML nodes with their ranges, and what the
cursor is on.

Two views of the same text, because an editor buffer is often half-typed:

* :class:`YamlIndex` composes the text with PyYAML (libyaml when present) and keeps
  every node's start and end, so a diagnostic located at ``line:col`` underlines the whole
  value or key that starts there, and hover/definition find the scalar under the cursor
  with its path (``("tasks", "list_images", "params", "project_id")``).
* :func:`line_context` reads only indentation, so completion works in a buffer that does
  not parse (``    proj`` with no colon yet).

Positions here are 0-based lines and columns in code points; the server converts them to
the client's units (UTF-16 by default, LSP 3.17 ``PositionEncodingKind``).

Example::

    index = YamlIndex.of("tasks:\\n  a:\\n    operation: x.y\\n")
    index.at(2, 16)   # Hit(path=("tasks", "a", "operation"), role="value", ...)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = [
    "KEY_LINE",
    "Hit",
    "LineContext",
    "Span",
    "YamlIndex",
    "block_keys",
    "find_key",
    "indent_of",
    "line_context",
    "referenced",
    "template_at",
    "top_keys",
]

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Span:
    """A range in the text: 0-based, end exclusive, columns in code points."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int

    def contains(self, line: int, col: int) -> bool:
        if (line, col) < (self.start_line, self.start_col):
            return False
        return (line, col) <= (self.end_line, self.end_col)


@dataclass(frozen=True)
class Hit:
    """The scalar under a position: its path from the root, whether it is a ``key`` or a
    ``value``, its text and span."""

    path: tuple[Any, ...]
    role: str
    value: Any
    span: Span


def _span(node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.line, start.column, end.line, end.column)


@dataclass
class YamlIndex:
    """Every node of a composed YAML document by where it starts; empty when the text
    does not parse (the loader reports why)."""

    lines: list[str]
    root: yaml.Node | None = None
    starts: dict[tuple[int, int], list[yaml.Node]] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> YamlIndex:
        index = cls(text.splitlines())
        try:
            index.root = yaml.compose(text, Loader=_LOADER)
        except (yaml.YAMLError, UnicodeError, RecursionError):
            return index
        if index.root is not None:
            for node in _walk(index.root, set()):
                key = (node.start_mark.line, node.start_mark.column)
                index.starts.setdefault(key, []).append(node)
        return index

    def span_from(self, line: int, col: int) -> Span:
        """The range of what starts at ``line:col``: the outermost node there that fits on
        one line, else the rest of that line's content (a block mapping's first line)."""
        for node in self.starts.get((line, col), []):
            span = _span(node)
            if span.end_line == span.start_line and span.end_col > span.start_col:
                return span
        return self.rest_of_line(line, col)

    def rest_of_line(self, line: int, col: int) -> Span:
        """From ``col`` to the end of the line's content (a trailing comment left out)."""
        text = self.lines[line] if 0 <= line < len(self.lines) else ""
        content = _strip_comment(text).rstrip()
        end = max(len(content), col + 1) if col < len(content) else len(text)
        if end <= col:  # nothing there: underline one character's width
            end = col + 1
        return Span(line, col, line, end)

    def at(self, line: int, col: int) -> Hit | None:
        """The key or scalar value that contains ``line:col``, with its path."""
        if self.root is None:
            return None
        return _find(self.root, (), line, col)


def _walk(node: yaml.Node, seen: set[int]) -> Iterator[yaml.Node]:
    if id(node) in seen:  # an alias repeats a node: once is enough
        return
    seen.add(id(node))
    yield node
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _walk(key, seen)
            yield from _walk(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item, seen)


def _find(node: yaml.Node, path: tuple[Any, ...], line: int, col: int) -> Hit | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if isinstance(key, yaml.ScalarNode) and _span(key).contains(line, col):
                return Hit((*path, name), "key", name, _span(key))
            if _span(value).contains(line, col):
                found = _find(value, (*path, name), line, col)
                if found is not None:
                    return found
        return None
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            if _span(item).contains(line, col):
                return _find(item, (*path, i), line, col)
        return None
    if isinstance(node, yaml.ScalarNode):
        return Hit(path, "value", node.value, _span(node))
    return None


def _strip_comment(text: str) -> str:
    """The line without a ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = ""
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i]
    return text


# --- completion context from indentation ------------------------------------------------

KEY_LINE = re.compile(
    r"^(?P<indent>\s*)(?:-\s+)?(?P<key>[^\s#:'\"{}\[\],][^:#]*?|\"[^\"]*\"|'[^']*')\s*:(?:\s|$)"
)


@dataclass(frozen=True)
class LineContext:
    """What the cursor is on, read from indentation: the ``parents`` (keys of the lines
    above with less indentation, outermost first), and either the ``key`` being typed
    (``role="key"``) or the key whose value is being typed (``role="value"``), with the
    ``prefix`` typed so far and where it starts."""

    parents: tuple[str, ...]
    role: str
    key: str
    prefix: str
    prefix_start: int


def _unquote(key: str) -> str:
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
        return key[1:-1]
    return key


def indent_of(text: str) -> int:
    """The indentation of a line's key (after a ``- `` for a sequence item's first key)."""
    stripped = text.lstrip(" ")
    if stripped.startswith("- "):  # an item's keys sit after its dash
        return len(text) - len(stripped) + 2
    return len(text) - len(stripped)


def line_context(lines: list[str], line: int, col: int) -> LineContext:
    """The completion context at ``line:col`` (0-based, code points)."""
    text = lines[line] if 0 <= line < len(lines) else ""
    before = text[:col]
    match = KEY_LINE.match(text)
    if match and col > match.end("key"):
        start = text.index(":", match.end("key")) + 1
        while start < col and text[start] in " \t":
            start += 1
        if start < col and text[start] in "'\"":
            start += 1
        return LineContext(
            _parents(lines, line, indent_of(text)),
            "value",
            _unquote(match.group("key")),
            text[start:col],
            start,
        )
    stripped = before.lstrip(" ")
    word_start = len(before) - len(stripped.removeprefix("- ").lstrip(" "))
    indent = col if not stripped else indent_of(text)
    return LineContext(_parents(lines, line, indent), "key", "", before[word_start:], word_start)


def _parents(lines: list[str], line: int, indent: int) -> tuple[str, ...]:
    parents: list[str] = []
    for above in range(line - 1, -1, -1):
        text = lines[above]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        own = indent_of(text)
        if own < indent:
            match = KEY_LINE.match(text)
            if match:
                parents.append(_unquote(match.group("key")))
            indent = own
            if own == 0:
                break
    return tuple(reversed(parents))


# --- keys by indentation ------------------------------------------------------------------


def find_key(lines: list[str], path: tuple[str, ...]) -> tuple[int, int]:
    """The line and indentation of the key at ``path``, or ``(-1, -1)``."""
    stack: list[tuple[int, str]] = []
    for number, text in enumerate(lines):
        match = KEY_LINE.match(text)
        if not match or text.lstrip().startswith("#"):
            continue
        own = indent_of(text)
        while stack and stack[-1][0] >= own:
            stack.pop()
        stack.append((own, match.group("key").strip().strip("'\"")))
        if tuple(key for _, key in stack) == path:
            return number, own
    return -1, -1


def block_keys(lines: list[str], path: tuple[str, ...]) -> list[str]:
    """The keys one level under ``path`` (top-level first), read by indentation."""
    start, indent = find_key(lines, path)
    if start < 0:
        return []
    keys: list[str] = []
    child: int | None = None
    for text in lines[start + 1 :]:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        own = indent_of(text)
        if own <= indent:
            break
        match = KEY_LINE.match(text)
        if child is None:
            child = own
        if own == child and match:
            keys.append(match.group("key").strip().strip("'\""))
    return keys


def top_keys(lines: list[str]) -> set[str]:
    """The top-level keys of ``lines``."""
    return {
        m.group("key") for text in lines if (m := KEY_LINE.match(text)) and not m.group("indent")
    }


def referenced(text: str, namespace: str) -> set[str]:
    """Names read as ``namespace.NAME`` anywhere in ``text``."""
    return set(re.findall(rf"\b{namespace}\.([A-Za-z_]\w*)", text))


# --- templates ----------------------------------------------------------------------------


def template_at(text: str, col: int) -> tuple[int, str] | None:
    """When ``col`` is inside ``{{ ... }}`` (or ``{% ... %}``) of ``text``, where that
    expression starts and its text up to ``col``."""
    start = max(text.rfind("{{", 0, col), text.rfind("{%", 0, col))
    if start < 0:
        return None
    close = max(text.rfind("}}", start, col), text.rfind("%}", start, col))
    if close >= 0:
        return None
    return start + 2, text[start + 2 : col]
