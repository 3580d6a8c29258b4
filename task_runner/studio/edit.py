"""Edit one existing task's ``params`` and ``connection`` in a workflow text, surgically.

Only the lines of the entries that change are touched: a one-line value is replaced in
place (its key, spacing and end-of-line comment kept), a multi-line value becomes one
flow line, a cleared parameter's lines are removed, a new one is added after the last
parameter -- or, when ``add-task`` left it commented out (``# per_page:   # ...``), that
line is uncommented with its description kept. Everything else in the file stays byte
for byte. Positions come from the round-trip loader (ruamel.yaml, the writer
``add-task`` uses); the result is loaded again and compared with what was asked, and
when a splice could not be made exactly (an unusual layout), the round-trip writer
rewrites the file instead (comments kept, layout normalised).

Example::

    text = update_task(text, "list_images", {"project_id": 777, "per_page": 50})
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from typing import Any

from task_runner.errors import UsageError

__all__ = ["json_flow", "update_task"]

_MISSING = object()


def _plain(value: Any) -> Any:
    """A value as JSON sees it (the browser's view): dates as text, ruamel types plain."""
    return json.loads(json.dumps(value, default=str))


_PLAIN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
#: Characters YAML does not allow in a file (YAML 1.2 section 5.1, c-printable), lone
#: surrogates, and the line breaks of YAML 1.1 (U+0085, U+2028, U+2029), which a
#: double-quoted scalar would fold, and U+FEFF: written as JSON escapes, read back as is.
_NOT_PRINTABLE = re.compile(
    r"[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def json_flow(value: Any) -> str:
    """``value`` as one line of JSON that is also valid YAML 1.2 flow: non-ASCII text is
    kept as it is, except characters YAML does not allow in a file, escaped (``\\u007f``).
    """
    text = json.dumps(value, ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _flow(value: Any) -> str:
    """``value`` as a one-line YAML flow value: a word that reads back as the same
    string stays plain (``created_at``), anything else is JSON (YAML 1.2 flow)."""
    if isinstance(value, str) and _PLAIN_WORD.fullmatch(value):
        import yaml

        if yaml.safe_load(value) == value:  # not true/null/1e3 and the like
            return value
    return json_flow(value)


def _comment_at(line: str, start: int) -> int:
    """The index where ``line``'s end-of-line comment (and the spaces before it) begins,
    scanning from ``start`` outside quotes; ``len(line)`` when it has none."""
    quote = None
    i = start
    while i < len(line):
        char = line[i]
        if quote == '"' and char == "\\":
            i += 2
            continue
        if quote:
            if char == quote:
                if quote == "'" and line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                quote = None
        elif char in "\"'" and (i == start or line[i - 1] in " [{,:"):
            quote = char
        elif char == "#" and i > start and line[i - 1] in " \t":
            return len(line[:i].rstrip())
        i += 1
    return len(line.rstrip())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _entry_end(lines: list[str], line: int, col: int) -> int:
    """The line after the entry whose key is at (``line``, ``col``): its value may go on
    over deeper-indented lines; comments and blanks after it are not part of it."""
    last, j = line, line + 1
    while j < len(lines):
        if _is_filler(lines[j]):
            j += 1
            continue
        if _indent(lines[j]) <= col:
            break
        last, j = j, j + 1
    return last + 1


def _block_end(lines: list[str], line: int, col: int) -> int:
    """Like :func:`_entry_end`, but comment lines indented deeper than ``col`` (a block's
    commented-out entries) count as part of it."""
    last, j = line, line + 1
    while j < len(lines):
        stripped = lines[j].strip()
        if not stripped:
            j += 1
            continue
        if _indent(lines[j]) <= col:
            break
        last, j = j, j + 1
    return last + 1


def _key_text(line: str, col: int) -> str:
    """The key as written at ``col`` (quotes included), up to its ``:``."""
    match = re.match(r'("(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|[^:#]+?)\s*:(\s|$)', line[col:])
    if match is None:
        raise ValueError(f"no key at column {col + 1}: {line!r}")
    return match.group(1)


class _Splicer:
    """Line edits on a text, applied bottom-up so earlier positions stay valid."""

    def __init__(self, text: str) -> None:
        self.eol = "\r\n" if "\r\n" in text else "\n"
        self.lines = text.replace("\r\n", "\n").split("\n")
        self.edits: list[tuple[int, int, list[str]]] = []

    def replace(self, start: int, end: int, new: list[str]) -> None:
        self.edits.append((start, end, new))

    def text(self) -> str:
        lines = list(self.lines)
        for start, end, new in sorted(self.edits, key=lambda e: (e[0], e[1]), reverse=True):
            lines[start:end] = new
        return self.eol.join(lines)


def _set_entry(sp: _Splicer, mapping: Any, key: str, value: Any) -> None:
    """Set an existing entry of ``mapping`` (a ruamel CommentedMap) to ``value``."""
    line, col = mapping.lc.key(key)
    end = _entry_end(sp.lines, line, col)
    text = sp.lines[line]
    vline, vcol = mapping.lc.value(key)
    one_line = end == line + 1 and vline == line and not text[vcol:].lstrip().startswith(("|", ">"))
    if one_line:
        cut = _comment_at(text, vcol)
        sp.replace(line, line + 1, [text[:vcol] + _flow(value) + text[cut:]])
        return
    key_text = _key_text(text, col)
    colon = text.index(":", col + len(key_text))
    cut = _comment_at(text, colon + 1)
    sp.replace(line, end, [f"{text[:col]}{key_text}: {_flow(value)}{text[cut:]}"])


def _uncomment(sp: _Splicer, start: int, end: int, col: int, key: str, value: Any) -> bool:
    """Uncomment ``# key:`` (a commented-out parameter) between lines ``start`` and ``end``,
    with ``value`` and its description comment; False when there is no such line."""
    from task_runner.scaffold import _key

    for number in range(start, end):
        line = sp.lines[number]
        if _indent(line) != col or not line.lstrip().startswith("# "):
            continue
        body = line.strip()[2:]
        for written in dict.fromkeys((key, _key(key))):
            if re.match(re.escape(written) + r"\s*:(\s|$)", body):
                rest = body[len(written) :].lstrip()[1:]
                cut = _comment_at(rest, 0)
                sp.replace(
                    number, number + 1, [f"{' ' * col}{written}: {_flow(value)}{rest[cut:]}"]
                )
                return True
    return False


def _edit_params(sp: _Splicer, task_map: Any, params: Mapping[str, Any]) -> None:
    from task_runner.scaffold import _key

    current = task_map.get("params")
    pline, pcol = task_map.lc.key("params")
    block_end = _block_end(sp.lines, pline, pcol)
    is_block = hasattr(current, "lc") and len(current) and current.fa.flow_style() is False
    if not is_block:
        if _plain(current or {}) == _plain(dict(params)):
            return
        if params:  # empty or flow params: written as a block under `params:`
            header = sp.lines[pline]
            cut = _comment_at(header, header.index(":", pcol) + 1)
            new = [f"{header[:pcol]}params:{header[cut:]}"]
            new += [f"{' ' * (pcol + 2)}{_key(k)}: {_flow(v)}" for k, v in params.items()]
        else:
            header = sp.lines[pline]
            cut = _comment_at(header, header.index(":", pcol) + 1)
            new = [f"{header[:pcol]}params: {{}}{header[cut:]}"]
        sp.replace(pline, _entry_end(sp.lines, pline, pcol), new)
        return
    keys = list(current)
    col = current.lc.key(keys[0])[1]
    for key in keys:
        if key not in params:
            line, kcol = current.lc.key(key)
            sp.replace(line, _entry_end(sp.lines, line, kcol), [])
        elif _plain(current[key]) != _plain(params[key]):
            _set_entry(sp, current, key, params[key])
    if not params:  # every entry removed: say so, or the key would read as null
        header = sp.lines[pline]
        cut = _comment_at(header, header.index(":", pcol) + 1)
        sp.replace(pline, pline + 1, [f"{header[:pcol]}params: {{}}{header[cut:]}"])
        return
    last_line = current.lc.key(keys[-1])[0]
    after_last = _entry_end(sp.lines, last_line, col)
    added = []
    for key, value in params.items():
        if key in current:
            continue
        if not _uncomment(sp, pline + 1, block_end, col, str(key), value):
            added.append(f"{' ' * col}{_key(str(key))}: {_flow(value)}")
    if added:
        sp.replace(after_last, after_last, added)


def _edit_connection(sp: _Splicer, task_map: Any, connection: str) -> None:
    if task_map.get("connection") == connection:
        return
    if "connection" in task_map:
        _set_entry(sp, task_map, "connection", connection)
        return
    anchor = "operation" if "operation" in task_map else next(iter(task_map))
    line, col = task_map.lc.key(anchor)
    end = _entry_end(sp.lines, line, col)
    sp.replace(end, end, [f"{' ' * col}connection: {connection}"])


def _task_map(doc: Any, task: str) -> Any:
    tasks: Any = doc.get("tasks") if hasattr(doc, "get") else None
    if not hasattr(tasks, "get") or task not in tasks:
        raise UsageError(f"the workflow has no task {task!r}", hint="reload the page")
    task_map = tasks[task]
    if not hasattr(task_map, "lc"):
        raise UsageError(f"task {task!r} is not a mapping; edit it in the YAML")
    return task_map


def update_task(
    text: str,
    task: str,
    params: Mapping[str, Any],
    connection: str | None = None,
) -> str:
    """``text`` with ``task``'s params made exactly ``params`` (keys missing from it are
    removed) and, when given, its connection set; see the module for what is kept.

    Raises :class:`UsageError` when the text does not parse, has no such task, or the
    task is a raw request (no ``operation``: its params are not a form's)."""
    from ruamel.yaml.error import YAMLError

    from task_runner.scaffold import _yaml

    yaml = _yaml()
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        raise UsageError(f"the file does not parse as YAML: {exc}") from None
    task_map = _task_map(doc, task)
    if "operation" not in task_map:
        raise UsageError(
            f"task {task!r} is a raw request (no operation from the catalogue)",
            hint="edit its request: block in the YAML",
        )
    sp = _Splicer(text)
    if "params" in task_map:
        _edit_params(sp, task_map, params)
    elif params:
        anchor = "connection" if "connection" in task_map else next(iter(task_map))
        line, col = task_map.lc.key(anchor)
        end = _entry_end(sp.lines, line, col)
        block = [f"{' ' * col}params:"]
        block += [f"{' ' * (col + 2)}{json.dumps(k)}: {_flow(v)}" for k, v in params.items()]
        sp.replace(end, end, block)
    if connection:
        _edit_connection(sp, task_map, connection)
    edited = sp.text()
    if _matches(yaml, text, edited, task, params, connection):
        return edited
    return _rewrite(yaml, doc, task, params, connection)


def _matches(
    yaml: Any, before: str, after: str, task: str, params: Mapping[str, Any], conn: str | None
) -> bool:
    """Whether ``after`` holds ``before``'s data with only the asked changes."""
    try:
        old, new = _plain(yaml.load(before)), _plain(yaml.load(after))
    except Exception:  # a splice that broke the YAML: not exact
        return False
    wanted = old["tasks"][task]
    if params or "params" in wanted:
        wanted["params"] = _plain(dict(params))
    if conn:
        wanted["connection"] = conn
    return bool(new == old)


def _rewrite(
    yaml: Any, doc: Any, task: str, params: Mapping[str, Any], connection: str | None
) -> str:
    """The fallback: the change made on the round-trip tree, the file dumped again."""
    task_map = doc["tasks"][task]
    current = task_map.get("params")
    if hasattr(current, "keys"):
        for key in [k for k in current if k not in params]:
            del current[key]
        for key, value in params.items():
            if key not in current or _plain(current[key]) != _plain(value):
                current[key] = value
    else:
        task_map["params"] = dict(params)
    if connection:
        task_map["connection"] = connection
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return buffer.getvalue()
