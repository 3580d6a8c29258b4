"""Import an OpenAPI 3.0/3.1 document (JSON or YAML) as operation definitions.

Each operation becomes the same definition a reference page of it would give: id by
:func:`~task_runner.catalogue.opid.operation_id`, path/query/header parameters (path-item
parameters merged with the operation's), a JSON request body, every local ``$ref``
resolved. What differs from a plain copy, and why:

- ``format: date``/``date-time`` on a ``filters[...]`` parameter is widened to a range
  format: Procore documents range filters that way although they take ``...`` ranges;
- a query array named without ``[]`` gets ``"x-style": "brackets"`` (sent as
  ``name[]=1&name[]=2``);
- OpenAPI 3.0 ``nullable`` and boolean ``exclusiveMinimum``/``exclusiveMaximum`` become
  their JSON Schema 2020-12 forms;
- cookie parameters and non-JSON request bodies are left out; a recursive ``$ref`` is
  cut at the point where it repeats (that sub-schema accepts anything).

A broken or non-local ``$ref`` and a malformed document raise a located
:class:`~task_runner.errors.DefinitionError`.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml

from task_runner.catalogue import schema_rules
from task_runner.catalogue.opid import operation_id
from task_runner.errors import DefinitionError, SourceLocation

__all__ = ["import_openapi", "looks_like_openapi"]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
PARAM_LOCATIONS = ("path", "query", "header")
_OPENAPI_KEY_RE = re.compile(r"""^\s*\{?\s*["']?openapi["']?\s*:""", re.MULTILINE)
_MAX_REF_DEPTH = 64

Pointer = tuple[str | int, ...]


def looks_like_openapi(text: str) -> bool:
    """True when the text has a top-level ``openapi:`` key (a reference page has not)."""
    return bool(_OPENAPI_KEY_RE.search(text[:4096]))


def _mark_positions(node: yaml.Node, pointer: Pointer, out: dict[Pointer, tuple[int, int]]) -> None:
    out[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _mark_positions(value, (*pointer, str(key.value)), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _mark_positions(item, (*pointer, index), out)


class _Document:
    """The parsed document, its file name, and lazily the line/column of each node."""

    def __init__(self, text: str, file: str) -> None:
        self.text, self.file = text, file
        self._positions: dict[Pointer, tuple[int, int]] | None = None
        self.data = self._load()

    def _load(self) -> Any:
        try:
            if self.text.lstrip().startswith("{"):
                return json.loads(self.text)
            return yaml.safe_load(self.text)
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
        if self._positions is None:
            self._positions = {}
            try:
                node = yaml.compose(self.text)
                if node is not None:
                    _mark_positions(node, (), self._positions)
            except yaml.YAMLError:
                pass  # JSON that YAML 1.1 cannot read: errors keep the file only
        for length in range(len(pointer), -1, -1):
            found = self._positions.get(pointer[:length])
            if found:
                return SourceLocation(self.file, *found)
        return SourceLocation(self.file)

    def error(self, message: str, pointer: Pointer, hint: str | None = None) -> DefinitionError:
        return DefinitionError(
            message, location=self.location(pointer), path=_format_pointer(pointer), hint=hint
        )

    def mapping(self, value: Any, pointer: Pointer, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(f"{what} must be a mapping", pointer)
        return value

    # --- $ref ------------------------------------------------------------------------

    def lookup(self, ref: Any, pointer: Pointer) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise self.error(f"only local $refs ('#/...') are supported, found {ref!r}", pointer)
        target: Any = self.data
        for raw in [p for p in ref[1:].split("/") if p]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                raise self.error(f"$ref {ref!r} points to nothing", pointer)
        return target

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


def _format_pointer(pointer: Pointer) -> str:
    return "/".join(str(p) for p in pointer)


def _to_2020_12(schema: Any) -> Any:
    """OpenAPI 3.0 schema dialect -> JSON Schema 2020-12 (nullable, boolean exclusives)."""
    if isinstance(schema, list):
        return [_to_2020_12(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _to_2020_12(v) for k, v in schema.items()}
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)
    return out


class _Importer:
    def __init__(self, doc: _Document, api: str) -> None:
        self.doc, self.api = doc, api
        self.root = doc.mapping(doc.data, (), "an OpenAPI document")
        self.prefix = self._server_prefix()

    def _server_prefix(self) -> str:
        servers = self.root.get("servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            return ""
        url = str(servers[0].get("url", ""))
        path = re.sub(r"^[a-z][a-z0-9+.-]*://[^/]*", "", url, flags=re.IGNORECASE)
        return "" if "{" in path else path.rstrip("/")

    def check_version(self) -> None:
        version = str(self.root.get("openapi", ""))
        if not re.match(r"^3\.[01](\.\d+)?", version):
            raise self.doc.error(
                f"OpenAPI version {version!r} is not supported", ("openapi",), hint="3.0.x or 3.1.x"
            )

    def operations(self) -> list[dict[str, Any]]:
        self.check_version()
        paths = self.doc.mapping(self.root.get("paths"), ("paths",), "'paths'")
        definitions: list[dict[str, Any]] = []
        for path, item in paths.items():
            pointer: Pointer = ("paths", path)
            item = self.doc.mapping(item, pointer, f"path item {path!r}")
            if "$ref" in item:
                item = self.doc.mapping(
                    self.doc.resolve(item, pointer), pointer, f"path item {path!r}"
                )
            has_patch = "patch" in item
            for method in HTTP_METHODS:
                if method in item:
                    definitions.append(self.operation(str(path), method, item, has_patch))
        if not definitions:
            raise self.doc.error("the document has no operations", ("paths",))
        return definitions

    def operation(
        self, path: str, method: str, item: dict[str, Any], has_patch: bool
    ) -> dict[str, Any]:
        pointer: Pointer = ("paths", path, method)
        op = self.doc.mapping(item[method], pointer, f"operation {method.upper()} {path}")
        full_path = self.prefix + path
        summary = str(op.get("summary") or "").strip()
        description = str(op.get("description") or "").strip()
        if not summary and description:
            summary, _, description = description.partition("\n\n")
        return {
            "id": operation_id(self.api, method, full_path, put_is_replace=has_patch),
            "api": self.api,
            "method": method.upper(),
            "path": full_path,
            "summary": summary,
            "description": description.strip(),
            "parameters": self.parameters(item, op, pointer),
            "requestBody": self.request_body(op, pointer),
        }

    def parameters(
        self, item: dict[str, Any], op: dict[str, Any], pointer: Pointer
    ) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for owner, where in ((item, pointer[:-1]), (op, pointer)):
            raw_list = owner.get("parameters", [])
            if not isinstance(raw_list, list):
                raise self.doc.error("'parameters' must be a list", (*where, "parameters"))
            for index, raw in enumerate(raw_list):
                at = (*where, "parameters", index)
                param = self.doc.mapping(self.doc.resolve(raw, at), at, "a parameter")
                converted = self.parameter(param, at)
                if converted is not None:
                    merged[(converted["name"], converted["in"])] = converted
        return list(merged.values())

    def parameter(self, param: dict[str, Any], at: Pointer) -> dict[str, Any] | None:
        name, location = param.get("name"), param.get("in")
        if not isinstance(name, str) or not name:
            raise self.doc.error("a parameter needs a 'name'", at)
        if location == "cookie":
            return None
        if location not in PARAM_LOCATIONS:
            raise self.doc.error(f"parameter {name!r} has an unknown 'in': {location!r}", at)
        schema = self._parameter_schema(param, at)
        description = str(param.get("description") or "").strip()
        self._apply_rules(name, location, schema, description)
        converted: dict[str, Any] = {
            "name": name,
            "in": location,
            "required": bool(param.get("required")) or location == "path",
            "schema": schema,
            "description": description,
        }
        style = schema_rules.array_style(location, name, schema)
        if style:
            converted["x-style"] = style
        return converted

    def _parameter_schema(self, param: dict[str, Any], at: Pointer) -> dict[str, Any]:
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), dict) and param["content"]:
            schema = next(iter(param["content"].values())).get("schema")
        schema = _to_2020_12(schema if schema is not None else {"type": "string"})
        return self.doc.mapping(schema, (*at, "schema"), "a parameter schema")

    @staticmethod
    def _apply_rules(name: str, location: str, schema: dict[str, Any], description: str) -> None:
        if schema.get("type") == "array" and "items" not in schema:
            schema["items"] = dict(schema_rules.ANY_ID_ITEMS)
        if location == "query":
            schema_rules.widen_date_format(name, schema)
        if schema.get("type") == "string" and schema.get("format") in (None, "date", "date-time"):
            fmt = schema_rules.detect_range_format(description)
            if fmt:
                schema["format"] = fmt
        if name == "sort" and schema.get("type") == "string" and schema.get("enum"):
            schema[schema_rules.DESCENDING_KEY] = "-"

    def request_body(self, op: dict[str, Any], pointer: Pointer) -> dict[str, Any] | None:
        if "requestBody" not in op:
            return None
        at = (*pointer, "requestBody")
        body = self.doc.mapping(self.doc.resolve(op["requestBody"], at), at, "'requestBody'")
        content = body.get("content") or {}
        for media, entry in content.items() if isinstance(content, dict) else ():
            if media.split(";")[0].strip().endswith("json") and isinstance(entry, dict):
                schema = _to_2020_12(entry.get("schema") or {})
                return {
                    "required": bool(body.get("required")),
                    "content": {"application/json": {"schema": schema}},
                }
        return None


def import_openapi(text: str, file: str, api: str) -> list[dict[str, Any]]:
    """Every operation of an OpenAPI document, as definitions in document order."""
    return _Importer(_Document(text, file), api).operations()
