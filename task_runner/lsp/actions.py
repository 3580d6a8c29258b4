"""Quick fixes and the outline of a workflow buffer.

A diagnostic whose message ends in ``did you mean 'X'?`` (an unknown key, parameter,
connection, operation, task or template name: the loader's :func:`did_you_mean`) gets a
quick fix that puts ``X`` where the misspelt name stands in the diagnostic's range.
:func:`symbols` lists inputs, connections and tasks (with their operation) for the
editor's outline and "go to symbol".

Positions are 0-based, in code points.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING

from lsprotocol import types

from task_runner.lsp.document import find_key

if TYPE_CHECKING:
    from task_runner.lsp.analysis import Snapshot

__all__ = ["quick_fixes", "symbols"]

_SUGGESTION = re.compile(r"did you mean '([^']+)'")
_WORD = re.compile(r"[A-Za-z_][\w\-\[\].]*")


def quick_fixes(snap: Snapshot, uri: str, found: list[types.Diagnostic]) -> list[types.CodeAction]:
    """One "Change to 'X'" fix per diagnostic of ``found`` that suggests a name."""
    actions: list[types.CodeAction] = []
    for diagnostic in found:
        match = _SUGGESTION.search(diagnostic.message)
        r = diagnostic.range
        if match is None or r.start.line != r.end.line or r.start.line >= len(snap.lines):
            continue
        suggestion = match.group(1)
        text = snap.lines[r.start.line][r.start.character : r.end.character]
        dotted = "." in suggestion  # an operation id is replaced whole, a name by itself
        words = [(at, w) for at, w in _words(text) if w != suggestion and ("." in w) == dotted]
        scored = [(difflib.SequenceMatcher(None, w, suggestion).ratio(), s, w) for s, w in words]
        if not scored:
            continue
        ratio, start, word = max(scored)
        if ratio < 0.6:
            continue
        at = r.start.character + start
        edit = types.TextEdit(
            range=types.Range(
                start=types.Position(line=r.start.line, character=at),
                end=types.Position(line=r.start.line, character=at + len(word)),
            ),
            new_text=suggestion,
        )
        actions.append(
            types.CodeAction(
                title=f"Change to '{suggestion}'",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                is_preferred=True,
                edit=types.WorkspaceEdit(changes={uri: [edit]}),
            )
        )
    return actions


def _words(text: str) -> list[tuple[int, str]]:
    """Names in ``text`` with their offsets: dotted ones whole (``procore.images.lst``) and
    each of their parts (``list_imagez`` of ``tasks.list_imagez.output``)."""
    found: list[tuple[int, str]] = []
    for match in _WORD.finditer(text):
        word = match.group().rstrip(".")
        found.append((match.start(), word))
        offset = match.start()
        for part in word.split(".") if "." in word else ():
            if part:
                found.append((offset, part))
            offset += len(part) + 1
    return found


def symbols(snap: Snapshot) -> list[types.DocumentSymbol]:
    """The workflow's outline: ``inputs``, ``connections`` and ``tasks`` with their entries."""
    kinds = {
        "inputs": types.SymbolKind.Variable,
        "connections": types.SymbolKind.Interface,
        "tasks": types.SymbolKind.Function,
    }
    out: list[types.DocumentSymbol] = []
    for section, kind in kinds.items():
        line, indent = find_key(snap.lines, (section,))
        if line < 0:
            continue
        children = []
        for name in snap.names(section):
            child_line, child_indent = find_key(snap.lines, (section, name))
            if child_line < 0:
                continue
            detail = snap.task_operation(name) if section == "tasks" else None
            children.append(_symbol(name, kind, child_line, child_indent, detail))
        symbol = _symbol(section, types.SymbolKind.Namespace, line, indent, None)
        symbol.children = children
        if children:
            last = children[-1].range.end
            symbol.range = types.Range(start=symbol.range.start, end=last)
        out.append(symbol)
    return out


def _symbol(
    name: str, kind: types.SymbolKind, line: int, col: int, detail: str | None
) -> types.DocumentSymbol:
    at = types.Range(
        start=types.Position(line=line, character=col),
        end=types.Position(line=line, character=col + len(name)),
    )
    return types.DocumentSymbol(
        name=name, kind=kind, range=at, selection_range=at, detail=detail or None
    )
