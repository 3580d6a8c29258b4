"""Parse an API reference text page into an operation definition.

A page has this form (any section may be missing, sections come in any order)::

    GET /rest/v1.0/projects/{project_id}/images      <- the method-and-path line, first
    Return a list of ...                              <- summary (first paragraph)
    More text ...                                     <- description (other paragraphs)
    Servers                                           <- may be empty, or list URLs
    Path parameters | Request headers | Query parameters | Request body fields
    Name Type Required Description                    <- optional table header
    project_id Integer Yes                            <- a row: name, type, Yes/No
    Unique identifier for the project.                <- description (may be absent)
    Possible values:                                  <- optional enum, one bullet a value
      • "created_at"
    Default value: false                              <- optional, typed by the row's type
    How to start integrating                          <- the rest is not the operation

Anything the parser does not understand raises :class:`~task_runner.errors.DefinitionError`
located at the file, line and column; it never returns half a definition.

Example::

    definition = parse_reference(text, "procore-rest-v1.0-images-get.txt", api="procore")
    definition["id"]  # 'procore.images.list'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from task_runner.catalogue import schema_rules
from task_runner.catalogue.body_schema import build_body_schema
from task_runner.catalogue.opid import operation_id, path_parameters
from task_runner.errors import DefinitionError, SourceLocation

__all__ = ["ReferenceField", "parse_reference"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SECTIONS = {
    "servers": "servers",
    "path parameters": "path",
    "request headers": "header",
    "query parameters": "query",
    "request body fields": "body",
}
END_MARKERS = ("how to start integrating",)
TABLE_HEADER = "name type required description"

_METHOD_RE = re.compile(r"^(?P<method>[A-Z]+)[ \t]+(?P<path>/\S*)\s*$")
_ROW_RE = re.compile(r"^(?P<name>\S+)[ \t]+(?P<type>\S+)[ \t]+(?P<req>Yes|No)\s*$")
_HALF_ROW_RE = re.compile(
    r"^(?P<name>\S+)[ \t]+(?P<type>" + "|".join(schema_rules.TYPE_NAMES) + r")\s*$"
)
_BULLET_RE = re.compile(r"^\s*[•\-*]\s+(?P<value>.*\S)\s*$")
_POSSIBLE_RE = re.compile(r"^\s*Possible values:\s*$")
_DEFAULT_RE = re.compile(r"^\s*Default value:(?P<value>.*)$")


@dataclass
class ReferenceField:
    """One parameter row of a page, with what follows it."""

    name: str
    type: str
    required: bool
    location: str
    line: int
    paragraphs: list[list[str]] = field(default_factory=list)
    enum: list[Any] | None = None
    enum_line: int = 0
    default: Any = None
    has_default: bool = False

    @property
    def description(self) -> str:
        return "\n\n".join("\n".join(p) for p in self.paragraphs)


class _Page:
    """The line-by-line reader; one instance per page."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines = text.splitlines()
        self.fields: list[ReferenceField] = []
        self.servers: list[str] = []
        self.intro: list[list[str]] = []
        self.section: str | None = None
        self.section_line = 0
        self.section_rows = 0
        self.current: ReferenceField | None = None
        self.in_paragraph = False
        self.bullets_for: ReferenceField | None = None

    def error(
        self, message: str, line: int, column: int = 1, hint: str | None = None
    ) -> DefinitionError:
        return DefinitionError(message, location=SourceLocation(self.file, line, column), hint=hint)

    # --- the method line -------------------------------------------------------------

    def method_line(self) -> tuple[str, str, int]:
        for number, raw in enumerate(self.lines, start=1):
            if not raw.strip():
                continue
            match = _METHOD_RE.match(raw.strip())
            if not match or match["method"] not in METHODS:
                raise self.error(
                    "no method line: a reference page starts with the method and path",
                    number,
                    hint="e.g. 'GET /rest/v1.0/images'",
                )
            self._check_path(match["path"], number, raw.index("/") + 1)
            return match["method"], match["path"], number
        raise self.error("no method line: the page is empty", 1)

    def _check_path(self, path: str, line: int, column: int) -> None:
        opened = -1
        for offset, char in enumerate(path):
            if char == "{" and opened < 0:
                opened = offset
            elif char == "}" and opened >= 0:
                opened = -1
            elif char in "{}":
                raise self.error(f"unbalanced braces in path {path!r}", line, column + offset)
        if opened >= 0:
            raise self.error(f"unbalanced braces in path {path!r}", line, column + opened)

    # --- the body of the page ----------------------------------------------------------

    def read(self, start: int) -> None:
        for number in range(start + 1, len(self.lines) + 1):
            raw = self.lines[number - 1]
            heading = " ".join(raw.split()).lower()
            if heading in END_MARKERS:
                break
            if heading in SECTIONS:
                self.open_section(SECTIONS[heading], number)
                continue
            self.read_line(raw, number)
        self.close_section()

    def open_section(self, section: str, number: int) -> None:
        self.close_section()
        self.section, self.section_line, self.section_rows = section, number, 0

    def close_section(self) -> None:
        self.close_field()
        if self.section not in (None, "servers") and not self.section_rows:
            raise self.error(
                "this section lists no parameters (is the page truncated?)", self.section_line
            )

    def close_field(self) -> None:
        current = self.current
        if current is not None and current.enum is not None and not current.enum:
            raise self.error(
                "'Possible values:' lists no values (is the page truncated?)", current.enum_line
            )
        self.current, self.bullets_for, self.in_paragraph = None, None, False

    def read_line(self, raw: str, number: int) -> None:
        if self.bullets_for is not None:
            bullet = _BULLET_RE.match(raw)
            if bullet:
                self.add_enum_value(bullet["value"], number, raw.index(bullet["value"]) + 1)
                return
            if raw.strip() or self.bullets_for.enum:
                self.bullets_for = None
        if not raw.strip():
            self.in_paragraph = False
            return
        if self.section is None:
            self.add_text(self.intro, raw)
        elif self.section == "servers":
            self.add_server(raw, number)
        else:
            self.read_parameter_line(raw, number)

    def add_text(self, paragraphs: list[list[str]], raw: str) -> None:
        if self.in_paragraph and paragraphs:
            paragraphs[-1].append(raw.strip())
        else:
            paragraphs.append([raw.strip()])
        self.in_paragraph = True

    def add_server(self, raw: str, number: int) -> None:
        url = raw.strip()
        if not re.match(r"^https?://\S+$", url):
            raise self.error(
                f"expected a server URL, found {url!r}", number, len(raw) - len(raw.lstrip()) + 1
            )
        self.servers.append(url)

    # --- parameter sections ------------------------------------------------------------

    def read_parameter_line(self, raw: str, number: int) -> None:
        text = raw.strip()
        if " ".join(text.split()).lower() == TABLE_HEADER:
            return
        row = _ROW_RE.match(text)
        if row:
            self.add_field(row, raw, number)
            return
        half = _HALF_ROW_RE.match(text)
        if half:
            raise self.error(
                f"parameter row {text!r} has no Required column (is the page truncated?)",
                number,
                len(raw.rstrip()) + 1,
            )
        current = self.current
        if current is None:
            raise self.error(
                f"expected a parameter row 'NAME TYPE Yes|No', found {text!r}",
                number,
                len(raw) - len(raw.lstrip()) + 1,
            )
        if _POSSIBLE_RE.match(raw):
            self.start_enum(current, number)
        elif (default := _DEFAULT_RE.match(raw)) is not None:
            value = default["value"]
            column = default.start("value") + len(value) - len(value.lstrip()) + 1
            self.set_default(current, value.strip(), number, column)
        else:
            self.add_text(current.paragraphs, raw)

    def add_field(self, row: re.Match[str], raw: str, number: int) -> None:
        self.close_field()
        assert self.section is not None
        type_name = row["type"]
        if type_name not in schema_rules.TYPE_NAMES:
            raise self.error(
                f"unknown type {type_name!r}",
                number,
                raw.index(type_name, raw.index(row["name"]) + len(row["name"])) + 1,
                hint="one of " + ", ".join(schema_rules.TYPE_NAMES),
            )
        name = row["name"]
        if self.section == "query":
            name = schema_rules.restore_bracket_name(name)
        self.check_duplicate(name, number)
        self.current = ReferenceField(name, type_name, row["req"] == "Yes", self.section, number)
        self.fields.append(self.current)
        self.section_rows += 1

    def check_duplicate(self, name: str, number: int) -> None:
        body = self.section == "body"
        for other in self.fields:
            if other.name == name and (other.location == "body") == body:
                raise self.error(
                    f"parameter {name!r} is listed twice (first on line {other.line})", number
                )

    def start_enum(self, current: ReferenceField, number: int) -> None:
        if current.enum is not None:
            raise self.error(f"'Possible values:' given twice for {current.name!r}", number)
        current.enum, current.enum_line = [], number
        self.bullets_for, self.in_paragraph = current, False

    def add_enum_value(self, text: str, number: int, column: int) -> None:
        target = self.bullets_for
        assert target is not None and target.enum is not None
        value = self.typed_value(target, text, number, column, "possible value")
        if value in target.enum:
            raise self.error(f"possible value {text} is listed twice", number, column)
        target.enum.append(value)

    def set_default(self, current: ReferenceField, text: str, number: int, column: int) -> None:
        if current.has_default:
            raise self.error(f"'Default value:' given twice for {current.name!r}", number)
        if not text:
            raise self.error(
                "'Default value:' has no value (is the page truncated?)", number, column
            )
        current.default = self.typed_value(current, text, number, column, "default value")
        current.has_default = True
        self.in_paragraph = False

    def typed_value(
        self, target: ReferenceField, text: str, number: int, column: int, what: str
    ) -> Any:
        kind = schema_rules.TYPE_NAMES[target.type]
        if kind == "array":
            kind = "string"  # enums of an array describe its items
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if kind == "string" and not isinstance(value, str):
            value = text
        if not _matches(kind, value):
            raise self.error(f"{what} {text} is not a {target.type}", number, column)
        return value


def _matches(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    checks: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "boolean": bool,
        "object": dict,
    }
    return isinstance(value, checks.get(kind, object))


def field_schema(item: ReferenceField) -> dict[str, Any]:
    """The JSON Schema of one row: type, items, enum, default, format."""
    kind = schema_rules.TYPE_NAMES[item.type]
    schema: dict[str, Any] = {"type": kind}
    if kind == "array":
        schema["items"] = dict(schema_rules.ANY_ID_ITEMS)
        if item.enum:
            schema["items"] = {"type": "string", "enum": list(item.enum)}
    elif item.enum:
        schema["enum"] = list(item.enum)
    if kind == "string":
        fmt = schema_rules.detect_range_format(item.description)
        if fmt:
            schema["format"] = fmt
    if item.name == "sort" and item.enum and kind == "string":
        schema[schema_rules.DESCENDING_KEY] = "-"
    if item.has_default:
        schema["default"] = item.default
    return schema


def _parameter(item: ReferenceField) -> dict[str, Any]:
    schema = field_schema(item)
    param: dict[str, Any] = {
        "name": item.name,
        "in": item.location,
        # a path parameter is always required: the URL cannot be built without it
        "required": item.required or item.location == "path",
        "schema": schema,
        "description": item.description,
    }
    style = schema_rules.array_style(item.location, item.name, schema)
    if style:
        param["x-style"] = style
    return param


def _path_parameters(page: _Page, path: str, line: int) -> list[dict[str, Any]]:
    """Listed path parameters in page order, then unlisted ``{placeholders}`` of the path."""
    in_path = path_parameters(path)
    listed = [f for f in page.fields if f.location == "path"]
    for item in listed:
        if item.name not in in_path:
            raise page.error(
                f"path parameter {item.name!r} does not appear in the path {path!r}", item.line
            )
    params = [_parameter(f) for f in listed]
    names = {f.name for f in listed}
    for name in in_path:
        if name not in names:
            params.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": dict(schema_rules.ANY_ID_ITEMS),
                    "description": "",
                }
            )
    return params


def parse_reference(text: str, file: str, api: str) -> dict[str, Any]:
    """Parse one reference page into a definition (without ``x-source``/``x-params-schema``)."""
    page = _Page(text, file)
    method, path, line = page.method_line()
    page.read(line)
    if not page.intro:
        raise page.error("no summary after the method line", min(line + 1, max(len(page.lines), 1)))
    params = _path_parameters(page, path, line)
    params += [_parameter(f) for f in page.fields if f.location in ("header", "query")]
    body_fields = [f for f in page.fields if f.location == "body"]
    definition: dict[str, Any] = {
        "id": operation_id(api, method, path),
        "api": api,
        "method": method,
        "path": path,
        "summary": "\n".join(page.intro[0]),
        "description": "\n\n".join("\n".join(p) for p in page.intro[1:]),
        "parameters": params,
        "requestBody": build_body_schema(body_fields, page.error) if body_fields else None,
    }
    if page.servers:
        definition["servers"] = [{"url": url} for url in page.servers]
    return definition
