"""The editor schema: what a third-party validator makes of workflow files.

``schemas/workflow.schema.json`` routes each task to its API's generated file
(``schemas/<api>.editor.schema.json``), which checks ``params`` against the operation while
letting any value be a template. The route is written when
:data:`~task_runner.schema_fragments.ROUTE_PARAMS` is on; these tests read the committed
files with the route added (what the committed file is once it is on), as an editor
does: jsonschema (Draft 2020-12) with a plain ``referencing`` registry that loads the
schema files by relative URI and no format checker (third-party validators ignore our
custom formats), and check-jsonschema when it is installed. Broken files must be flagged
whenever ``task-runner validate`` rejects them for a reason a schema can express; valid
files (the examples, templates in every position) must pass.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from task_runner.catalogue import Catalogue, repo_root
from task_runner.catalogue.editor_schema import (
    EDITOR_SUFFIX,
    TEMPLATE_PATTERN,
    api_schema,
    api_schema_text,
    editor_file,
    editor_params,
    editor_registry,
    structural,
)
from task_runner.catalogue.generator import check
from task_runner.cli import main
from task_runner.formats import FORMAT_CHECKER, FORMAT_PATTERNS, parse_date, parse_datetime
from task_runner.schema_fragments import ROUTE_PARAMS, apply, catalogue_apis, schema_text
from task_runner.workflow.templating import is_template
from task_runner.workflow.yaml_loader import load_yaml_file

ROOT = repo_root()
SCHEMAS = ROOT / "schemas"
WORKFLOW_SCHEMA = SCHEMAS / "workflow.schema.json"
EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yaml"))
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]

#: A copy of examples/workflows/procore_images.yaml (kept here so that edits to the
#: example never move what a case below breaks).
BASE = """\
# yaml-language-server: $schema=../../schemas/workflow.schema.json
name: procore-daily-photos
schedule:
  cron: "0 6 * * *"
  timezone: America/Los_Angeles
window:
  initial_lookback: 1d
  lag: 60s
inputs:
  company_id: {type: integer, description: Procore company id}
  project_id: {type: integer, description: Procore project id}
connections:
  procore:
    api: procore
    base_url: "{{ env.PROCORE_BASE_URL | default('https://api.procore.com') }}"
    auth:
      type: oauth2_client_credentials
      token_url: "{{ env.PROCORE_TOKEN_URL | default('https://login.procore.com/oauth/token') }}"
      client_id: "{{ secrets.PROCORE_CLIENT_ID }}"
      client_secret: "{{ secrets.PROCORE_CLIENT_SECRET }}"
tasks:
  list_images:
    type: http
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      filters[updated_at]: "{{ run.window_start | iso_range(run.window_end) }}"
      sort: -created_at
      per_page: 100
    paginate:
      pages: all
      key: id
    retry: {max_attempts: 5, initial_interval: 1s, backoff_rate: 2.0, max_interval: 60s}
    timeout: {connect: 5s, read: 30s}
    output:
      jsonl: "out/{{ run.workflow }}/{{ run.id }}/images.jsonl"
"""

PARAMS = "      per_page: 100\n"


@dataclass(frozen=True)
class Case:
    """``BASE`` with ``old`` replaced by ``new``: a file ``validate`` rejects.

    ``expressible``: whether a schema can say what is wrong (else it needs the calendar,
    a range's order, the IANA zones, or a reference to another part of the file).
    """

    id: str
    old: str
    new: str
    expressible: bool = True

    def text(self) -> str:
        assert self.old in BASE, f"{self.id}: {self.old!r} is not in BASE"
        return BASE.replace(self.old, self.new, 1)


CASES = [
    # params, against the operation's schema
    Case("misspelled_param", PARAMS, "      per_pgae: 100\n"),
    Case("integer_given_text", PARAMS, "      per_page: abc\n"),
    Case("integer_given_quoted_number", PARAMS, '      per_page: "100"\n'),
    Case("integer_given_fraction", PARAMS, "      per_page: 10.5\n"),
    Case("enum_sort_sideways", "sort: -created_at", "sort: sideways"),
    Case("enum_serializer_view", PARAMS, PARAMS + "      serializer_view: huge\n"),
    Case("range_yesterday", '"{{ run.window_start | iso_range(run.window_end) }}"', "yesterday"),
    Case(
        "range_mixing_date_and_time",
        '"{{ run.window_start | iso_range(run.window_end) }}"',
        "2024-05-01...2024-05-02T00:00:00Z",
    ),
    Case(
        "date_range_given_times", PARAMS, PARAMS + "      filters[log_date]: 2024-05-01T06:00:00Z\n"
    ),
    Case("array_item_wrong_type", PARAMS, PARAMS + "      filters[trade_ids][]: [101, true]\n"),
    Case("array_given_a_number", PARAMS, PARAMS + "      filters[trade_ids][]: 101\n"),
    Case("boolean_given_text", PARAMS, PARAMS + '      filters[starred]: "yes"\n'),
    Case("missing_required_param", '      project_id: "{{ inputs.project_id }}"\n', ""),
    Case("unknown_operation", "operation: procore.images.list", "operation: procore.images.lst"),
    # the workflow's own structure
    Case("unknown_top_level_key", "name: procore-daily-photos\n", "name: x\nowner: me\n"),
    Case("unknown_task_key", "    paginate:\n", "    paginat:\n"),
    Case("bad_task_name", "  list_images:\n", "  list-images:\n"),
    Case("bad_duration", "initial_interval: 1s", "initial_interval: 1 minute"),
    Case("bad_window_lag", "  lag: 60s\n", "  lag: soon\n"),
    Case("cron_and_every", "  timezone: America/Los_Angeles\n", "  timezone: UTC\n  every: 15m\n"),
    Case("bad_auth_type", "type: oauth2_client_credentials", "type: oauth3"),
    Case(
        "auth_without_its_secret",
        '      client_secret: "{{ secrets.PROCORE_CLIENT_SECRET }}"\n',
        "",
    ),
    Case("bad_paginate", "      pages: all\n", "      pages: everything\n"),
    Case("no_attempts", "max_attempts: 5", "max_attempts: 0"),
    # not for a schema: what the file means, or what lies outside it
    Case("bad_cron", '"0 6 * * *"', '"61 6 * * *"', expressible=False),
    Case("bad_timezone", "America/Los_Angeles", "Mars/Olympus_Mons", expressible=False),
    Case(
        "range_ending_before_it_starts",
        '"{{ run.window_start | iso_range(run.window_end) }}"',
        "2024-05-02...2024-05-01",
        expressible=False,
    ),
    Case("impossible_date", PARAMS, PARAMS + "      filters[log_date]: 2023-02-29\n", False),
    Case("unknown_connection", "    connection: procore\n", "    connection: procor\n", False),
    Case("undeclared_input", "inputs.project_id }}", "inputs.projectid }}", expressible=False),
]

#: Valid files: every parameter templated (whole values, array items, {% %} and {# #}),
#: and every parameter literal.
TEMPLATED_PARAMS = """\
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      image_category_id: "{{ inputs.project_id + 1 }}"
      filters[created_at]: "{{ run.window_start | iso_range(run.window_end) }}"
      filters[updated_at]: "{% if inputs.project_id %}2024-05-01...2024-05-02{% endif %}"
      sort: "{{ 'created_at' }}"
      filters[trade_ids][]: ["{{ inputs.project_id }}", 101, "102"]
      filters[location_id][]: "{{ [1, 2] }}"
      filters[log_date]: "{{ run.window_start | iso_date }}"
      filters[starred]: "{{ inputs.company_id > 0 }}"
      page: "{{ 1 }}"
      per_page: "{# the API's largest page #}100"
      filters[private]: "{{ false }}"
      filters[include_sublocations]: "{{ true }}"
      filters[id][]: ["{{ inputs.company_id }}"]
      serializer_view: "{{ 'normal' }}"
      filters[query]: "{{ inputs.company_id }}"
"""
LITERAL_PARAMS = """\
      Procore-Company-Id: 8089
      project_id: 777
      filters[created_at]: 2024-05-01T00:00:00Z...2024-05-02T00:00:00+02:00
      filters[updated_at]: 2024-05-01...2024-05-02
      filters[log_date]: 2024-05-01
      sort: -created_at,taken_at
      filters[trade_ids][]: [101, "102"]
      filters[starred]: true
      serializer_view: mobile_feed
      per_page: 100
"""
_PARAMS_BLOCK = re.compile(r"(    params:\n)(?:      .*\n)+")
VALID = {
    "templates_everywhere": _PARAMS_BLOCK.sub(lambda m: m[1] + TEMPLATED_PARAMS, BASE),
    "literals_everywhere": _PARAMS_BLOCK.sub(lambda m: m[1] + LITERAL_PARAMS, BASE),
}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TASK_RUNNER_DEFINITIONS", "PROCORE_BASE_URL", "PROCORE_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)


def _registry(schemas: Path) -> Registry:
    """What a user of jsonschema writes: schema files by their path relative to ``schemas``."""

    def retrieve(uri: str) -> Resource:
        contents = json.loads((schemas / uri).read_text(encoding="utf-8"))
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]


def _routed() -> dict[str, Any]:
    """The committed workflow schema with the task definition routed to the API files."""
    return apply(json.loads(WORKFLOW_SCHEMA.read_text(encoding="utf-8")), route=True)


@pytest.fixture(scope="module")
def editor_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the committed schemas folder, its workflow schema routed."""
    folder = tmp_path_factory.mktemp("schemas")
    for path in SCHEMAS.glob("*.json"):
        shutil.copy(path, folder / path.name)
    (folder / WORKFLOW_SCHEMA.name).write_text(
        schema_text(json.loads(WORKFLOW_SCHEMA.read_text(encoding="utf-8")), route=True),
        encoding="utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def third_party(editor_schemas: Path) -> Draft202012Validator:
    """The workflow schema as an editor reads it: the files beside it, no format checker."""
    schema = json.loads((editor_schemas / WORKFLOW_SCHEMA.name).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=_registry(editor_schemas))


def _problems(validator: Draft202012Validator, path: Path) -> list[str]:
    data = json.loads(json.dumps(load_yaml_file(path)))
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(data)]


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """``task-runner validate --output json``'s errors."""
    code = main(["validate", str(path), "--output", "json", *INPUTS])
    errors: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert code == (2 if errors else 0)
    return errors


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- broken and valid files: validate against a third-party validator ---------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_broken_file_is_flagged_when_a_schema_can_say_why(
    case: Case,
    tmp_path: Path,
    third_party: Draft202012Validator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _write(tmp_path, case.id, case.text())
    assert _validate(path, capsys), "task-runner validate accepts it: not a broken file"
    problems = _problems(third_party, path)
    if case.expressible:
        assert problems, "the editor schema lets it pass"
    else:  # if this starts to fail, the schema learnt something: mark the case expressible
        assert problems == []


def test_the_agreement_count(
    tmp_path: Path, third_party: Draft202012Validator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(CASES) == 30
    agree = 0
    for case in CASES:
        path = _write(tmp_path, case.id, case.text())
        agree += bool(_validate(path, capsys)) == bool(_problems(third_party, path))
    # every schema-expressible one; the rest need more than a schema
    assert agree == sum(c.expressible for c in CASES) == 24


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_files_with_templates_or_literals_pass_both(
    name: str,
    tmp_path: Path,
    third_party: Draft202012Validator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _write(tmp_path, name, VALID[name])
    assert _validate(path, capsys) == []
    assert _problems(third_party, path) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_the_editor_schema(
    path: Path, third_party: Draft202012Validator
) -> None:
    assert _problems(third_party, path) == []


def test_the_messages_name_the_parameter(tmp_path: Path, third_party: Draft202012Validator) -> None:
    text = BASE.replace("sort: -created_at", "sort: sideways\n      projet_id: 5")
    problems = _problems(third_party, _write(tmp_path, "wf", text))
    assert any("$.tasks.list_images.params.sort" in p for p in problems), problems
    assert any("'projet_id' was unexpected" in p for p in problems), problems


# --- check-jsonschema, when installed -------------------------------------------------------


def _check_jsonschema(schemas: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("check-jsonschema") is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    schema = schemas / WORKFLOW_SCHEMA.name
    command = ["check-jsonschema", "--no-cache", "--schemafile", str(schema)]
    return subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )


def test_check_jsonschema_accepts_the_examples(editor_schemas: Path) -> None:
    result = _check_jsonschema(editor_schemas, *EXAMPLES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "case_id", ["enum_sort_sideways", "range_yesterday", "misspelled_param", "unknown_operation"]
)
def test_check_jsonschema_flags_broken_params(
    case_id: str, tmp_path: Path, editor_schemas: Path
) -> None:
    case = next(c for c in CASES if c.id == case_id)
    result = _check_jsonschema(editor_schemas, _write(tmp_path, case.id, case.text()))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Schema validation errors" in result.stdout, result.stdout + result.stderr
    assert f"{case.id}.yaml::$.tasks.list_images." in result.stdout


# --- the generated files ------------------------------------------------------------------


def test_the_committed_editor_files_are_what_generation_gives() -> None:
    catalogue = Catalogue.load()
    apis = catalogue_apis()
    assert "procore" in apis
    for api in apis:
        committed = editor_file(SCHEMAS, api).read_text(encoding="utf-8")
        assert committed == api_schema_text(api, catalogue.all()), "run: task-runner apis generate"
    committed_workflow = WORKFLOW_SCHEMA.read_text(encoding="utf-8")
    assert committed_workflow == schema_text(json.loads(committed_workflow))
    hook = {"$ref": "#/$defs/operations"}
    routed = hook in json.loads(committed_workflow)["$defs"]["task"].get("allOf", [])
    assert routed == ROUTE_PARAMS


def test_the_workflow_schema_routes_each_catalogue_api_to_its_file() -> None:
    committed = json.loads(WORKFLOW_SCHEMA.read_text(encoding="utf-8"))
    assert "$id" not in committed  # relative references resolve beside the file, in every tool
    schema = _routed()
    assert schema["$defs"]["operations"] == committed["$defs"]["operations"]
    assert {"$ref": "#/$defs/operations"} in schema["$defs"]["task"]["allOf"]
    routes = {r["then"]["$ref"]: r["if"] for r in schema["$defs"]["operations"]["allOf"]}
    assert set(routes) == {f"{api}{EDITOR_SUFFIX}" for api in catalogue_apis()}
    prefix = routes["procore.editor.schema.json"]["properties"]["operation"]["pattern"]
    assert re.search(prefix, "procore.images.list") and not re.search(prefix, "procorex.a")


@pytest.mark.parametrize("op_id", Catalogue.load().ids())
def test_every_catalogue_operation_checks_its_params(
    op_id: str, third_party: Draft202012Validator
) -> None:
    operation = Catalogue.load().get(op_id)

    def problems(params: dict[str, Any]) -> list[str]:
        task = {"operation": op_id, "connection": "c", "params": params}
        document = {"name": "w", "tasks": {"t": task}}
        return [str(e.json_path) for e in third_party.iter_errors(document)]

    assert problems({"no_such_parameter": 1}) != []
    required = [p.name for p in operation.parameters if p.required]
    templated = {name: "{{ inputs.x }}" for name in required}
    assert problems(templated) == []
    if required:
        assert problems({}) != []


def test_check_lists_an_edited_or_missing_editor_file(tmp_path: Path) -> None:
    for folder in ("task_definitions", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    assert check(tmp_path) == []
    procore = editor_file(tmp_path / "schemas", "procore")
    procore.write_text(procore.read_text().replace('"per_page"', '"per_pgae"'))
    workflow = tmp_path / "schemas" / "workflow.schema.json"
    workflow.write_text(workflow.read_text().replace("procore.editor", "procor.editor"))
    assert check(tmp_path) == ["schemas/procore.editor.schema.json", "schemas/workflow.schema.json"]
    procore.unlink()
    assert check(tmp_path)[0] == "schemas/procore.editor.schema.json"


def test_apis_generate_writes_a_new_apis_file_and_routes_to_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "schemas").mkdir()
    shutil.copy(WORKFLOW_SCHEMA, tmp_path / "schemas" / "workflow.schema.json")
    pets = ROOT / "tests" / "data" / "openapi" / "pets.yaml"
    args = ["--out", str(tmp_path / "defs"), "--schemas-out", str(tmp_path / "schemas")]
    assert main(["apis", "generate", str(pets), "--api", "pets", *args]) == 0
    assert f"wrote {(tmp_path / 'schemas' / 'pets.editor.schema.json').as_posix()}" in (
        capsys.readouterr().out
    )
    pets_file = json.loads((tmp_path / "schemas" / "pets.editor.schema.json").read_text())
    assert "pets.list_pets" in pets_file["properties"]["operation"]["enum"]
    workflow = json.loads((tmp_path / "schemas" / "workflow.schema.json").read_text())
    routes = [r["then"]["$ref"] for r in workflow["$defs"]["operations"]["allOf"]]
    assert routes == ["pets.editor.schema.json"]  # the APIs of the folder it generated into


def test_generation_is_deterministic_whatever_the_order() -> None:
    schemas = {d.id: d.params_schema for d in Catalogue.load().all()}
    shuffled = list(schemas.items())
    random.Random(7).shuffle(shuffled)
    assert api_schema("procore", schemas) == api_schema("procore", dict(shuffled))


def test_structural_leaves_no_reference_to_the_api_files() -> None:
    """What ``validate`` compiles: no registry needed, params left to the catalogue."""
    document = {"name": "w", "tasks": {"t": {"operation": "procore.images.list", "params": {}}}}
    with pytest.raises(Unresolvable):  # the routed schema alone cannot be followed
        list(Draft202012Validator(_routed()).iter_errors(document))
    schema = structural(_routed())
    assert "editor.schema.json" not in json.dumps(schema)
    assert list(Draft202012Validator(schema).iter_errors(document)) == []


def test_the_registry_reads_only_the_schemas_folder() -> None:
    registry = editor_registry(SCHEMAS)
    assert registry.get_or_retrieve("procore.editor.schema.json").value.contents["$defs"]
    for uri in ("../pyproject.toml", "https://example.com/x.json", "nope.schema.json"):
        with pytest.raises(NoSuchResource):
            registry.get_or_retrieve(uri)


# --- the editor variant of a params schema --------------------------------------------------

TEMPLATE = {"$ref": "#/$defs/template"}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer"}, {"anyOf": [{"type": "integer"}, TEMPLATE]}),
        ({"type": "string", "description": "d"}, {"type": "string", "description": "d"}),
        (
            {"type": "array", "items": {"type": "boolean"}, "description": "d"},
            {
                "description": "d",
                "anyOf": [
                    {"type": "array", "items": {"anyOf": [{"type": "boolean"}, TEMPLATE]}},
                    TEMPLATE,
                ],
            },
        ),
        (
            {"type": "object", "properties": {"n": {"type": "number"}}, "x-in": "body"},
            {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"n": {"anyOf": [{"type": "number"}, TEMPLATE]}},
                    },
                    TEMPLATE,
                ]
            },
        ),
        (
            {"type": "string", "format": "date", "pattern": "^2"},
            {
                "anyOf": [
                    {
                        "type": "string",
                        "format": "date",
                        "pattern": "^2",
                        "allOf": [
                            {
                                "pattern": FORMAT_PATTERNS["date"],
                                "patternErrorMessage": "expected the form 2024-05-01 (date) "
                                "or a {{ template }}",
                            }
                        ],
                    },
                    TEMPLATE,
                ]
            },
        ),
    ],
    ids=["integer", "plain-string", "array-items", "nested-object", "format-beside-pattern"],
)
def test_each_value_takes_its_schema_or_a_template(
    schema: dict[str, Any], expected: dict[str, Any]
) -> None:
    params = {"type": "object", "properties": {"p": schema}, "required": ["p"]}
    params["additionalProperties"] = False
    out = editor_params(params)
    assert out["properties"]["p"] == expected
    assert out["required"] == ["p"] and out["additionalProperties"] is False
    assert params["properties"]["p"] == schema  # the catalogue's schema is left as it was


@given(st.text(alphabet="{}%#ab ", max_size=12))
def test_the_template_pattern_is_what_the_templating_calls_a_template(text: str) -> None:
    assert bool(re.search(TEMPLATE_PATTERN, text)) == is_template(text)


# --- format patterns --------------------------------------------------------------------------

_OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: dt.timedelta(minutes=m))
_DATES = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
_TIMES = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))


def _datetime_text(moment: dt.datetime, offset: dt.timedelta | None, micro: bool) -> str:
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"  # %Y does not pad years < 1000
    if micro:
        text += f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ".0"
    if offset is None:
        return text + "Z"
    sign, minutes = ("-", -offset) if offset < dt.timedelta(0) else ("+", offset)
    hours, rest = divmod(int(minutes.total_seconds()) // 60, 60)
    return f"{text}{sign}{hours:02d}:{rest:02d}"


_DATETIME_TEXT = st.builds(_datetime_text, _TIMES, st.none() | _OFFSETS, st.booleans())
_DATE_TEXT = _DATES.map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}")
_DATE_RANGES = st.tuples(_DATE_TEXT, _DATE_TEXT).map(
    lambda p: "...".join(sorted(p, key=parse_date))
)
_RANGES = st.one_of(
    _DATE_RANGES,
    st.tuples(_DATETIME_TEXT, _DATETIME_TEXT).map(
        lambda p: "...".join(sorted(p, key=parse_datetime))
    ),
)


#: Text shaped like the formats, each field a little beyond its range (month 13, hour 24,
#: offset minutes 60-99): which of them the checks accept is what the test is about.
def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


_LOOSE_DATETIME = st.builds(
    lambda y, mo, d, h, mi, s, frac, tz: f"{y:04d}-{mo}-{d}T{h}:{mi}:{s}{frac}{tz}",
    st.integers(0, 9999),
    _two(0, 13),
    _two(0, 32),
    _two(0, 25),
    _two(0, 61),
    _two(0, 61),
    st.sampled_from(["", ".5", ".123456"]),
    st.just("Z") | st.builds("{}{}:{}".format, st.sampled_from("+-"), _two(0, 25), _two(0, 99)),
)


def _accepted(fmt: str, value: str) -> bool:
    return FORMAT_CHECKER.conforms(value, fmt)


def test_every_format_the_checker_knows_has_a_pattern() -> None:
    assert set(FORMAT_CHECKER.checkers) == set(FORMAT_PATTERNS)


@settings(max_examples=300)
@given(_RANGES)
def test_the_range_pattern_accepts_every_range_the_checker_accepts(value: str) -> None:
    assert _accepted("iso8601-range", value), value
    assert re.search(FORMAT_PATTERNS["iso8601-range"], value), value


@settings(max_examples=300)
@given(st.one_of(_DATE_TEXT, _DATE_RANGES))
def test_the_date_or_range_pattern_accepts_what_the_checker_accepts(value: str) -> None:
    assert _accepted("date-or-date-range", value), value
    assert re.search(FORMAT_PATTERNS["date-or-date-range"], value), value


@settings(max_examples=500)
@given(_LOOSE_DATETIME, _LOOSE_DATETIME)
def test_no_value_the_checks_accept_is_refused_by_a_pattern(first: str, second: str) -> None:
    for fmt, value in (
        ("date-time", first),
        ("date", first[:10]),
        ("iso8601-range", f"{first}...{second}"),
        ("date-or-date-range", f"{first[:10]}...{second[:10]}"),
    ):
        if _accepted(fmt, value):
            assert re.search(FORMAT_PATTERNS[fmt], value), (fmt, value)


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "",
        "2024-05-01",
        "2024-05-01..2024-05-02",
        "2024-05-01...",
        "...2024-05-02",
        "2024-05-01...2024-05-02...2024-05-03",
        "2024-13-01...2024-13-02",
        "2024-05-01T25:00:00Z...2024-05-02T00:00:00Z",
        "2024-05-01T00:00:00...2024-05-02T00:00:00",
        "2024-05-01T00:00:00+05:99...2024-05-02T00:00:00Z",
        "2024-05-01...2024-05-02T00:00:00Z",
        "last week",
    ],
)
def test_the_range_pattern_refuses_what_is_no_range(value: str) -> None:
    assert not re.search(FORMAT_PATTERNS["iso8601-range"], value)
    assert not _accepted("iso8601-range", value)


def test_the_patterns_are_ecma_262() -> None:
    """Editors and check-jsonschema compile patterns as ECMA-262 with the ``u`` flag."""
    regress = pytest.importorskip("regress", reason="regress comes with check-jsonschema")
    patterns = {TEMPLATE_PATTERN, *FORMAT_PATTERNS.values()}
    for path in [WORKFLOW_SCHEMA, *(editor_file(SCHEMAS, api) for api in catalogue_apis())]:
        patterns |= set(_patterns(json.loads(path.read_text(encoding="utf-8"))))
    for pattern in sorted(patterns):
        regress.Regex(pattern, flags="u")  # raises RegressError when it is not


def _patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


# --- scale -----------------------------------------------------------------------------------


def test_a_procore_sized_api_builds_fast_and_stays_small(tmp_path: Path) -> None:
    """2,636 operations: built in well under the few seconds a generate may take, a file
    of a few MB, and an editor walks ~100 rules to find an operation, not 2,636."""
    from benchmarks.catalogue import OPERATIONS, synthetic_document
    from task_runner.catalogue.openapi import read_openapi
    from task_runner.catalogue.schema_rules import params_schema

    result = read_openapi(json.dumps(synthetic_document()), "big.json", "procore")
    schemas = {d["id"]: params_schema(d) for d in result.definitions}
    assert len(schemas) == OPERATIONS
    started = time.perf_counter()
    schema = api_schema("procore", schemas)
    text = json.dumps(schema, indent=2, ensure_ascii=False)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"{elapsed:.2f} s"
    assert len(text.encode()) < 6_000_000, f"{len(text.encode()):,} bytes"
    groups = schema["allOf"]
    assert len(schema["$defs"]) < 2 * OPERATIONS  # repeated parameters are shared
    assert 40 < len(groups) <= 60 and all(len(g["then"]["allOf"]) <= 60 for g in groups)
    # and it still checks: the last operation, through its group
    (tmp_path / "procore.editor.schema.json").write_text(text, encoding="utf-8")
    validator = Draft202012Validator(_routed(), registry=_registry(tmp_path))
    last = max(schemas)
    task = {"operation": last, "connection": "c", "params": {"Procore-Company-Id": "abc"}}
    errors = list(validator.iter_errors({"name": "w", "tasks": {"t": task}}))
    assert errors and all("params" in str(e.json_path) for e in errors), errors
