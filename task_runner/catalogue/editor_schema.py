"""One job: the editor's schema of a task's ``params``, one generated file per API.

An editor (yaml-language-server, check-jsonschema, any JSON Schema validator) reads
``schemas/workflow.schema.json``; its ``operations`` definition (written by
:mod:`task_runner.schema_fragments`) sends a task whose ``operation`` starts with
``<api>.`` to that API's file, ``schemas/<api>.editor.schema.json``, which holds:

- ``properties.operation``: the API's operation ids, so ``procore.images.lst`` is flagged;
- ``allOf``: one ``if operation == id then params: $ref #/$defs/<id>`` per operation (in
  groups behind an ``enum`` of their ids for a large API), so an editor walks a short
  list of one API, never the whole catalogue's;
- ``$defs``: each operation's params schema as an editor sees it (:func:`editor_params`):
  every value may also be a template (``"{{ inputs.project_id }}"`` for an integer), a
  custom ``format`` also carries its pattern (:data:`~task_runner.formats.FORMAT_PATTERNS`),
  unknown names and missing required parameters stay errors.

The files carry no ``$id``: every tool then resolves ``procore.editor.schema.json``
against the file that names it, which is what makes the relative references work in
editors and in check-jsonschema alike.

``task-runner validate`` does not read this part: it checks params itself, against the
same params schemas, after rendering templates (:func:`structural` is the workflow
schema without it).

Example::

    text = api_schema_text("procore", Catalogue.load().all())
    registry = editor_registry(Path("schemas"))   # for jsonschema, by relative URI
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.catalogue.schema_rules import regex_escape
from task_runner.formats import FORMAT_EXAMPLES, FORMAT_PATTERNS

if TYPE_CHECKING:
    from referencing import Registry

    from task_runner.catalogue.catalogue import OperationDefinition

__all__ = [
    "EDITOR_SUFFIX",
    "OPERATIONS_DEF",
    "TEMPLATE_MARKERS",
    "TEMPLATE_PATTERN",
    "api_schema",
    "api_schema_text",
    "editor_file",
    "editor_params",
    "editor_registry",
    "operations_schema",
    "structural",
]

#: ``schemas/<api><EDITOR_SUFFIX>``; not ``<api>/*.schema.json``, the params schemas' glob.
EDITOR_SUFFIX = ".editor.schema.json"
#: The workflow schema's definition that routes a task to its API's file.
OPERATIONS_DEF = "operations"
#: What makes a value a template (as :func:`task_runner.workflow.templating.is_template`).
TEMPLATE_MARKERS = ("{{", "{%", "{#")
TEMPLATE_PATTERN = "|".join(regex_escape(m) for m in TEMPLATE_MARKERS)

_TEMPLATE_DEF = "template"
_TEMPLATE_REF = {"$ref": f"#/$defs/{_TEMPLATE_DEF}"}
# No description: an editor's hover shows the parameter's own, not this one's.
_TEMPLATE: dict[str, Any] = {
    "type": "string",
    "pattern": TEMPLATE_PATTERN,
    # yaml-language-server shows this instead of the pattern when no branch fits
    "patternErrorMessage": "not a value this parameter takes, nor a {{ template }}",
}
#: Up to this many operations, an API file lists their rules flat (see :func:`_rules`).
FLAT_RULES = 64
#: Kept beside the ``anyOf`` (hover text, completion) rather than inside its branch.
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")
#: Keywords whose value is one subschema of a value inside this one.
_NESTED_ONE = ("items", "additionalProperties", "contains", "unevaluatedItems")
#: Keywords whose value maps names to subschemas of values inside this one.
_NESTED_MAP = ("properties", "patternProperties")
#: Keywords whose value lists subschemas of this same value.
_BRANCHES = ("anyOf", "oneOf", "allOf")


def editor_file(schemas_dir: Path, api: str) -> Path:
    """``schemas/procore.editor.schema.json``."""
    return schemas_dir / f"{api}{EDITOR_SUFFIX}"


def _accepts_any_string(schema: Mapping[str, Any]) -> bool:
    """True when every string is valid: a template needs no branch of its own."""
    constraints = {k for k in schema if k not in _ANNOTATIONS}
    kinds = schema.get("type")
    takes_strings = (
        kinds is None or kinds == "string" or (isinstance(kinds, list) and "string" in kinds)
    )
    return takes_strings and constraints <= {"type"}


def _with_format_pattern(schema: dict[str, Any]) -> None:
    """A known custom ``format`` also carries its pattern (kept beside one already there)."""
    fmt = str(schema.get("format"))
    if fmt not in FORMAT_PATTERNS:
        return
    message = f"expected the form {FORMAT_EXAMPLES[fmt]} ({fmt}) or a {{{{ template }}}}"
    check = {"pattern": FORMAT_PATTERNS[fmt], "patternErrorMessage": message}
    if "pattern" not in schema:
        schema.update(check)
    else:
        schema["allOf"] = [*schema.get("allOf", []), check]


def _inner(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the values inside it made template-tolerant (itself not wrapped)."""
    out = {k: v for k, v in schema.items() if not k.startswith("x-") and k != "$schema"}
    for key in _NESTED_MAP:
        if isinstance(out.get(key), dict):
            out[key] = {name: _value(sub) for name, sub in out[key].items()}
    for key in _NESTED_ONE:
        if isinstance(out.get(key), dict):
            out[key] = _value(out[key])
    if isinstance(out.get("prefixItems"), list):
        out["prefixItems"] = [_value(sub) for sub in out["prefixItems"]]
    for key in _BRANCHES:
        if isinstance(out.get(key), list):
            out[key] = [_inner(sub) if isinstance(sub, dict) else sub for sub in out[key]]
    _with_format_pattern(out)
    return out


def _value(schema: Any) -> Any:
    """The schema of one value as written in a workflow: itself, or a template."""
    if not isinstance(schema, dict):
        return schema  # true/false schemas
    inner = _inner(schema)
    if _accepts_any_string(inner):
        return inner
    annotations = {k: inner.pop(k) for k in _ANNOTATIONS if k in inner}
    return {**annotations, "anyOf": [inner, _TEMPLATE_REF]}


def editor_params(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The editor's variant of one operation's params schema (references
    ``#/$defs/template``, so it lives in an API file's ``$defs``).

    Each parameter, each array item and each nested field takes its own schema or a
    template; ``required`` and ``additionalProperties: false`` stay as they are.

    >>> editor_params({"type": "object", "properties": {"n": {"type": "integer"}}})
    {'type': 'object', 'properties': {'n': {'anyOf': [{'type': 'integer'}, {'$ref': '#/$defs/template'}]}}}
    """
    return _inner(dict(schema))  # builds new containers; ``schema`` is left as it is


def _pointer(name: str) -> str:
    return "#/$defs/" + name.replace("~", "~0").replace("/", "~1")


def _rule(op_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``if operation == op_id then params: $ref`` (the file's root requires ``operation``)."""
    then: dict[str, Any] = {"properties": {"params": {"$ref": _pointer(op_id)}}}
    if params.get("required"):
        then["required"] = ["params"]
    return {"if": {"properties": {"operation": {"const": op_id}}}, "then": then}


def _rules(ids: list[str], params_schemas: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    """One rule per operation; beyond :data:`FLAT_RULES` operations, in groups of about
    the square root of their number, each behind an ``enum`` of its ids: an editor
    evaluates ``if`` after ``if``, so 2,636 operations cost it ~100 tests, not 2,636."""
    rules = [_rule(op_id, params_schemas[op_id]) for op_id in ids]
    if len(rules) <= FLAT_RULES:
        return rules
    size = math.isqrt(len(rules) - 1) + 1
    return [
        {
            "if": {"properties": {"operation": {"enum": ids[i : i + size]}}},
            "then": {"allOf": rules[i : i + size]},
        }
        for i in range(0, len(rules), size)
    ]


def _kind(prop: Mapping[str, Any]) -> str:
    """``integer`` for an integer-or-template parameter: a readable part of a name."""
    inner = prop.get("anyOf", [prop])[0]
    kind = inner.get("type", "value") if isinstance(inner, dict) else "value"
    return "_or_".join(kind) if isinstance(kind, list) else str(kind)


def _share(editor: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Move every parameter schema that several operations repeat to a ``$defs`` entry of
    its own (in place); return those entries, sorted by name.

    A catalogue of thousands of operations repeats a few dozen parameters (company id,
    page, a range filter) thousands of times: sharing them keeps the file a few MB. An
    entry is named by its content (``integer-1f0c9a2e``), so adding an operation never
    renames another's.
    """

    def key(prop: Any) -> str:
        return json.dumps(prop, sort_keys=True, ensure_ascii=False)

    props = [(p, n) for e in editor.values() for n, p in e.get("properties", {}).items()]
    uses = Counter(key(p) for p, _ in props)
    names: dict[str, str] = {}
    for prop, _ in props:
        text = key(prop)
        if uses[text] > 1 and text not in names:
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            names[text] = f"{_kind(prop)}-{digest}"
    shared: dict[str, Any] = {}
    for schema in editor.values():
        properties = schema.get("properties", {})
        for name, prop in properties.items():
            if key(prop) in names:
                shared[names[key(prop)]] = prop
                properties[name] = {"$ref": _pointer(names[key(prop)])}
    return dict(sorted(shared.items()))


def api_schema(api: str, params_schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The editor file of one API from ``{operation id: params schema}`` (sorted by id)."""
    ids = sorted(params_schemas)
    editor = {op_id: editor_params(params_schemas[op_id]) for op_id in ids}
    shared = _share(editor)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{api} operations",
        "description": (
            f"A task's params for each {api} operation (generated by `task-runner apis "
            "generate`; do not edit). Any value may be a {{ template }}."
        ),
        "type": "object",
        "required": ["operation"],
        "properties": {
            "operation": {
                "enum": ids,
                "errorMessage": f"not a {api} operation: see `task-runner apis search {api}`",
            }
        },
        "allOf": _rules(ids, params_schemas),
        "$defs": {_TEMPLATE_DEF: _TEMPLATE, **shared, **editor},
    }


def api_schema_text(api: str, definitions: Iterable[OperationDefinition]) -> str:
    """:func:`api_schema` of the API's definitions, in the generator's one JSON layout."""
    from task_runner.catalogue.generator import dump

    schemas = {d.id: d.params_schema for d in definitions if d.api == api}
    return dump(api_schema(api, schemas))


def operations_schema(apis: Iterable[str]) -> dict[str, Any]:
    """The workflow schema's ``operations`` definition: per API, a prefix test and a
    ``$ref`` to its editor file (relative, so it resolves beside the workflow schema)."""
    rules = [
        {
            "if": {
                "properties": {
                    "operation": {"type": "string", "pattern": f"^{regex_escape(api)}\\."}
                },
                "required": ["operation"],
            },
            "then": {"$ref": f"{api}{EDITOR_SUFFIX}"},
        }
        for api in sorted(set(apis))
    ]
    return {
        "description": (
            "Generated: a task's params checked against its operation, one file per API "
            f"(schemas/<api>{EDITOR_SUFFIX}). Operations of other APIs are not checked here; "
            "`task-runner validate` checks every one."
        ),
        "allOf": rules,
    }


def structural(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the workflow schema without the params checks an editor needs and
    ``validate`` does itself (it checks params after rendering, with better messages)::

        Draft202012Validator(structural(schema), format_checker=FORMAT_CHECKER)
    """
    out: dict[str, Any] = json.loads(json.dumps(schema))
    if OPERATIONS_DEF in out.get("$defs", {}):
        out["$defs"][OPERATIONS_DEF] = {}
    return out


def editor_registry(schemas_dir: Path) -> Registry:
    """A :class:`referencing.Registry` that reads the workflow schema's relative
    references (``procore.editor.schema.json``) from ``schemas_dir``, and nothing else.

    Example::

        schema = json.loads((schemas_dir / "workflow.schema.json").read_text())
        Draft202012Validator(schema, registry=editor_registry(schemas_dir))
    """
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT202012

    root = schemas_dir.resolve()

    def retrieve(uri: str) -> Resource:
        path = (root / uri).resolve()
        if "://" in uri or not path.is_relative_to(root) or not path.is_file():
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class
        contents = json.loads(path.read_text(encoding="utf-8"))
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]
