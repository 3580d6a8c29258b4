"""Import an OpenAPI 3.0/3.1 document (JSON or YAML) as operation definitions.

Each operation becomes the same definition a reference page of it would give: id by
:mod:`~task_runner.catalogue.opid` (its ``operationId`` when it has one, collisions
resolved there), path/query/header parameters (path-item parameters merged with the
operation's), a JSON request body, every local ``$ref`` resolved. What differs from a
plain copy, and why:

- ``format: date``/``date-time`` on a ``filters[...]`` parameter is widened to a range
  format: Procore documents range filters that way although they take ``...`` ranges;
- with ``bracket_arrays`` (the API's hand-written profile says ``query_encoding.arrays:
  brackets``, as Procore's does) a query array named without ``[]`` gets ``"x-style":
  "brackets"`` (sent as ``name[]=1&name[]=2``); otherwise arrays keep OpenAPI's own
  encoding, and a parameter's ``style``/``explode`` are kept when not the defaults;
- OpenAPI 3.0 ``nullable`` and boolean ``exclusiveMinimum``/``exclusiveMaximum`` become
  their JSON Schema 2020-12 forms;
- a JSON request body's ``allOf`` of objects is merged into one object and its
  ``readOnly`` properties are dropped, so that the task's params can fill it;
- cookie parameters are left out; a recursive ``$ref`` is cut at the point where it
  repeats (that sub-schema accepts anything);
- a list operation gets ``x-items`` and, when it pages differently from the API's
  profile, ``x-pagination`` (see :mod:`~task_runner.catalogue.openapi_lists`).

One bad operation (a broken ``$ref`` in it, a required body that is not JSON) does not
stop the import: it is skipped and reported as a located
:class:`~task_runner.errors.DefinitionError` in :attr:`OpenApiImport.skipped`. A
malformed document, or one where no operation can be imported, raises.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from task_runner.catalogue import openapi_lists, openapi_profile, schema_rules
from task_runner.catalogue.openapi_document import Document, Pointer
from task_runner.catalogue.opid import Claim, id_from_operation_id, operation_id, unique_ids
from task_runner.errors import DefinitionError, raise_if_any

__all__ = ["OpenApiImport", "import_openapi", "looks_like_openapi", "read_openapi"]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PARAM_LOCATIONS = ("path", "query", "header")
#: OpenAPI's default ``style`` per parameter location (``explode`` defaults to form).
DEFAULT_STYLES = {"query": "form", "path": "simple", "header": "simple"}
_OPENAPI_KEY_RE = re.compile(r"""^\s*\{?\s*["']?openapi["']?\s*:""", re.MULTILINE)


def looks_like_openapi(text: str) -> bool:
    """True when the text has a top-level ``openapi:`` key (a reference page has not)."""
    return bool(_OPENAPI_KEY_RE.search(text[:4096]))


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


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` of objects -> one object with all their properties; else unchanged."""
    parts = schema.get("allOf")
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        return schema
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    properties = dict(merged.get("properties") or {})
    required = list(merged.get("required") or [])
    for part in (_merge_all_of(p) for p in parts):
        if part.get("type", "object") != "object" or {"oneOf", "anyOf", "not"} & part.keys():
            return schema
        properties.update(part.get("properties") or {})
        required += [r for r in part.get("required") or [] if r not in required]
        for key, value in part.items():
            if key not in ("properties", "required", "type"):
                merged.setdefault(key, value)
    merged.update(type="object", properties=properties)
    if required:
        merged["required"] = required
    return merged


def _drop_read_only(schema: Any) -> Any:
    """A request body never carries ``readOnly`` properties (OpenAPI: sent by the server)."""
    if not isinstance(schema, dict):
        return schema
    properties = schema.get("properties")
    if isinstance(properties, dict):
        kept = {
            k: _drop_read_only(v)
            for k, v in properties.items()
            if not (isinstance(v, dict) and v.get("readOnly") is True)
        }
        schema["properties"] = kept
        if isinstance(schema.get("required"), list):
            schema["required"] = [r for r in schema["required"] if r in kept]
            if not schema["required"]:
                del schema["required"]
    if isinstance(schema.get("items"), dict):
        schema["items"] = _drop_read_only(schema["items"])
    return schema


def _is_json(media: str) -> bool:
    return media.split(";")[0].strip().lower().endswith("json")


@dataclass
class OpenApiImport:
    """What one document gives: definitions, operations skipped, notes, the API profile."""

    definitions: list[dict[str, Any]]
    skipped: list[DefinitionError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Draft:
    definition: dict[str, Any]
    claim: Claim
    listing: openapi_lists.Listing | None
    header_names: list[str]


class _Importer:
    def __init__(
        self, doc: Document, api: str, bracket_arrays: bool, sort_prefix: str | None = None
    ) -> None:
        self.doc, self.api, self.bracket_arrays = doc, api, bracket_arrays
        self.sort_prefix = sort_prefix
        self.root = doc.mapping(doc.data, (), "an OpenAPI document")
        self.prefix = self._server_prefix()
        self.skipped: list[DefinitionError] = []
        self.notes: list[str] = []

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

    def run(self) -> OpenApiImport:
        self.check_version()
        paths = self.doc.mapping(self.root.get("paths"), ("paths",), "'paths'")
        drafts: list[_Draft] = []
        for path, raw_item in paths.items():
            item = self._path_item(str(path), raw_item)
            if item is None:
                continue
            has_patch = "patch" in item
            for method in HTTP_METHODS:
                if method in item:
                    try:
                        drafts.append(self.operation(str(path), method, item, has_patch))
                    except DefinitionError as exc:
                        self.skipped.append(_skipped(exc, f"{method.upper()} {self.prefix}{path}"))
        if not drafts:
            raise_if_any(self.skipped)
            raise self.doc.error("the document has no operations", ("paths",))
        ids = unique_ids([d.claim for d in drafts])
        for draft, op_id in zip(drafts, ids, strict=True):
            draft.definition["id"] = op_id
        return self._finish(drafts)

    def _path_item(self, path: str, item: Any) -> dict[str, Any] | None:
        pointer: Pointer = ("paths", path)
        try:
            item = self.doc.mapping(item, pointer, f"path item {path!r}")
            if "$ref" in item:
                item = self.doc.mapping(
                    self.doc.resolve(item, pointer), pointer, f"path item {path!r}"
                )
            return item
        except DefinitionError as exc:
            self.skipped.append(_skipped(exc, f"{self.prefix}{path}"))
            return None

    def _finish(self, drafts: list[_Draft]) -> OpenApiImport:
        listings = [d.listing for d in drafts if d.listing is not None]
        profile = openapi_profile.build_profile(
            self.root,
            self.api,
            prefix=self.prefix,
            listings=listings,
            header_names=Counter(h for d in drafts for h in d.header_names),
            follow=self.doc.follow,
            notes=self.notes,
        )
        for draft in drafts:
            if draft.listing is not None:
                draft.definition.update(draft.listing.definition_fields(profile["pagination"]))
        return OpenApiImport(
            definitions=[d.definition for d in drafts],
            skipped=self.skipped,
            notes=self.notes,
            profile=profile,
        )

    def operation(self, path: str, method: str, item: dict[str, Any], has_patch: bool) -> _Draft:
        pointer: Pointer = ("paths", path, method)
        op = self.doc.mapping(item[method], pointer, f"operation {method.upper()} {path}")
        full_path = self.prefix + path
        summary = str(op.get("summary") or "").strip()
        description = str(op.get("description") or "").strip()
        if not summary and description:
            summary, _, description = description.partition("\n\n")
        raw_id = op.get("operationId")
        claimed = id_from_operation_id(self.api, raw_id) if isinstance(raw_id, str) else None
        definition: dict[str, Any] = {
            "id": "",
            "api": self.api,
            "method": method.upper(),
            "path": full_path,
            "summary": summary,
            "description": description.strip(),
        }
        if isinstance(raw_id, str) and raw_id:
            definition["operationId"] = raw_id
        definition["parameters"] = self.parameters(item, op, pointer)
        definition["requestBody"] = self.request_body(op, pointer)
        # the document's own path: a server base path (/v1) names no resource
        claim = Claim(
            claimed or operation_id(self.api, method, path, put_is_replace=has_patch),
            method,
            path,
        )
        listing, headers = self._listing(method, op, definition["parameters"])
        return _Draft(definition, claim, listing, headers)

    def _listing(
        self, method: str, op: dict[str, Any], parameters: list[dict[str, Any]]
    ) -> tuple[openapi_lists.Listing | None, list[str]]:
        """The operation as a list (or None) and every response header it documents."""
        responses = op.get("responses")
        if not isinstance(responses, dict):
            return None, []
        header_names = openapi_lists.all_header_names(responses, self.doc.follow)
        listing = openapi_lists.detect(method, parameters, responses, self.doc.follow)
        return listing, header_names

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
        self._apply_rules(name, location, schema, description, self.sort_prefix)
        converted: dict[str, Any] = {
            "name": name,
            "in": location,
            "required": bool(param.get("required")) or location == "path",
            "schema": schema,
            "description": description,
        }
        style = schema_rules.array_style(location, name, schema) if self.bracket_arrays else None
        if style:
            converted["x-style"] = style
        converted.update(_encoding(param, location))
        return converted

    def _parameter_schema(self, param: dict[str, Any], at: Pointer) -> dict[str, Any]:
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), dict) and param["content"]:
            schema = next(iter(param["content"].values())).get("schema")
        schema = _to_2020_12(schema if schema is not None else {"type": "string"})
        return self.doc.mapping(schema, (*at, "schema"), "a parameter schema")

    @staticmethod
    def _apply_rules(
        name: str, location: str, schema: dict[str, Any], description: str, sort_prefix: str | None
    ) -> None:
        if schema.get("type") == "array" and "items" not in schema:
            schema["items"] = dict(schema_rules.ANY_ID_ITEMS)
        if location == "query":
            schema_rules.widen_date_format(name, schema)
        if schema.get("type") == "string" and schema.get("format") in (None, "date", "date-time"):
            fmt = schema_rules.detect_range_format(description)
            if fmt:
                schema["format"] = fmt
        # Only an API whose hand-written profile says so (Procore: `-created_at`) sorts
        # descending by a prefix; others take exactly the values their document lists.
        if sort_prefix and name == "sort" and schema.get("type") == "string" and schema.get("enum"):
            schema[schema_rules.DESCENDING_KEY] = sort_prefix

    def request_body(self, op: dict[str, Any], pointer: Pointer) -> dict[str, Any] | None:
        if "requestBody" not in op:
            return None
        at = (*pointer, "requestBody")
        body = self.doc.mapping(self.doc.resolve(op["requestBody"], at), at, "'requestBody'")
        content = body.get("content") or {}
        content = content if isinstance(content, dict) else {}
        required = bool(body.get("required"))
        for media, entry in content.items():
            if _is_json(str(media)) and isinstance(entry, dict):
                schema = _drop_read_only(_merge_all_of(_to_2020_12(entry.get("schema") or {})))
                if required and not schema.get("properties"):
                    raise self.doc.error(
                        "its required JSON request body has no named properties for a "
                        "task's params to fill (an array, a oneOf or a free-form body)",
                        (*at, "content", media),
                    )
                return {"required": required, "content": {"application/json": {"schema": schema}}}
        if required and content:
            raise self.doc.error(
                f"its request body is {', '.join(map(str, content))} only; "
                "task-runner sends JSON bodies",
                (*at, "content"),
            )
        return None


def _encoding(param: dict[str, Any], location: str) -> dict[str, Any]:
    """OpenAPI ``style``/``explode`` when they are not the defaults of the location."""
    out: dict[str, Any] = {}
    default = DEFAULT_STYLES[location]
    style = param.get("style")
    if isinstance(style, str) and style != default:
        out["style"] = style
    explode = param.get("explode")
    effective = style if isinstance(style, str) else default
    if isinstance(explode, bool) and explode != (effective == "form"):
        out["explode"] = explode
    return out


def _skipped(exc: DefinitionError, what: str) -> DefinitionError:
    """The error of a skipped operation: where, which operation, what went wrong."""
    skipped = DefinitionError(exc.message, location=exc.location, path=what, hint=exc.hint)
    skipped.__cause__ = exc
    return skipped


def read_openapi(
    text: str,
    file: str,
    api: str,
    *,
    bracket_arrays: bool = False,
    sort_prefix: str | None = None,
) -> OpenApiImport:
    """Every operation of an OpenAPI document in document order, with what was skipped,
    notes, and the API profile the document implies.

    Example::

        result = read_openapi(Path("pets.yaml").read_text(), "pets.yaml", "pets")
        [d["id"] for d in result.definitions]      # ['pets.list_pets', ...]
        result.profile["environments"]             # {'production': {...}}
    """
    return _Importer(Document(text, file), api, bracket_arrays, sort_prefix).run()


def import_openapi(
    text: str, file: str, api: str, *, bracket_arrays: bool = False, sort_prefix: str | None = None
) -> list[dict[str, Any]]:
    """The definitions of :func:`read_openapi` (skipped operations left out)."""
    return read_openapi(
        text, file, api, bracket_arrays=bracket_arrays, sort_prefix=sort_prefix
    ).definitions
