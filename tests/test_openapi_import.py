"""OpenAPI 3 import: the same definitions a reference page gives, refs resolved, errors located."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from task_runner.catalogue.generator import generate
from task_runner.catalogue.openapi import import_openapi, looks_like_openapi
from task_runner.catalogue.reference_parser import parse_reference
from task_runner.catalogue.schema_rules import params_schema
from task_runner.errors import DefinitionError
from task_runner.formats import FORMAT_CHECKER

DATA = Path(__file__).resolve().parent / "data" / "openapi"
SMALL = DATA / "procore-small.yaml"
IMAGES_PAGE = (
    Path(__file__).resolve().parent.parent
    / "task_definitions/procore/reference/procore-rest-v1.0-images-get.txt"
)


def load(text: str | None = None, file: str = "small.yaml") -> dict[str, dict[str, Any]]:
    text = SMALL.read_text(encoding="utf-8") if text is None else text
    return {d["id"]: d for d in import_openapi(text, file, "procore")}


def test_operation_ids_follow_the_rule() -> None:
    assert list(load()) == [
        "procore.images.list",
        "procore.images.create",
        "procore.images.get",
        "procore.images.replace",  # PUT beside a PATCH
        "procore.images.delete",
        "procore.images.update",
        "procore.projects.locations.list",
    ]


def test_parameters_refs_and_fixes() -> None:
    images = load()["procore.images.list"]
    params = {p["name"]: p for p in images["parameters"]}
    assert list(params) == [
        "Procore-Company-Id",
        "project_id",
        "filters[created_at]",
        "filters[log_date]",
        "filters[trade_ids]",
        "filters[id][]",
        "sort",
        "filters[starred]",
    ]  # the cookie parameter is left out
    assert (
        params["Procore-Company-Id"]["in"] == "header" and params["Procore-Company-Id"]["required"]
    )
    assert params["filters[created_at]"]["schema"]["format"] == "iso8601-range"
    assert params["filters[log_date]"]["schema"]["format"] == "date-or-date-range"
    assert params["filters[trade_ids]"]["x-style"] == "brackets"
    assert params["filters[trade_ids]"]["schema"]["items"] == {
        "type": "integer"
    }  # the source says so
    assert params["filters[id][]"]["schema"]["items"] == {"type": ["integer", "string"]}
    assert "x-style" not in params["filters[id][]"]
    assert params["filters[starred]"]["schema"]["default"] is False


def test_range_filters_accept_ranges() -> None:
    schema = params_schema(load()["procore.images.list"])
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    base = {"Procore-Company-Id": 1, "project_id": 2}
    assert validator.is_valid({**base, "filters[created_at]": "2024-01-01...2024-01-02"})
    assert validator.is_valid({**base, "filters[log_date]": "2024-01-01"})
    assert validator.is_valid({**base, "sort": "-taken_at"})
    assert schema["properties"]["filters[trade_ids]"]["x-style"] == "brackets"
    assert not validator.is_valid({**base, "filters[created_at]": "yesterday"})


def test_path_item_parameters_body_and_3_0_dialect() -> None:
    ops = load()
    assert [p["name"] for p in ops["procore.images.get"]["parameters"]] == [
        "id",
        "Procore-Company-Id",
    ]
    assert ops["procore.images.get"]["parameters"][0]["required"] is True  # path => required
    body = ops["procore.images.create"]["requestBody"]
    assert body["required"] is True
    image = body["content"]["application/json"]["schema"]["properties"]["image"]
    assert image["required"] == ["image_category_id"]  # $ref resolved
    schema = params_schema(ops["procore.images.create"])
    assert schema["properties"]["image"]["x-in"] == "body"
    assert "image" in schema["required"]
    locations = ops["procore.projects.locations.list"]
    assert locations["summary"] == "List Locations"
    assert locations["description"] == "Returns the locations of a project."
    per_page = locations["parameters"][1]["schema"]
    assert per_page == {"type": "integer", "exclusiveMinimum": 1}
    assert locations["parameters"][0]["schema"]["type"] == ["integer", "null"]


def test_json_document_gives_the_same_definitions() -> None:
    as_json = json.dumps(yaml.safe_load(SMALL.read_text(encoding="utf-8")), indent=2)
    assert load(as_json, "small.json") == load()


def test_same_definition_as_the_reference_page() -> None:
    page = parse_reference(IMAGES_PAGE.read_text(encoding="utf-8"), "page.txt", "procore")
    imported = load()["procore.images.list"]
    keys = ("id", "api", "method", "path", "summary", "description")
    assert {k: imported[k] for k in keys} == {k: page[k] for k in keys}
    page_params = {p["name"]: p for p in page["parameters"]}
    for param in imported["parameters"]:
        name = param["name"] if param["name"] in page_params else param["name"] + "[]"
        assert param["in"] == page_params[name]["in"]
        assert param["required"] == page_params[name]["required"]
        assert param["schema"].get("format") == page_params[name]["schema"].get("format")


def test_looks_like_openapi() -> None:
    assert looks_like_openapi(SMALL.read_text(encoding="utf-8"))
    assert looks_like_openapi('{"openapi": "3.1.0"}')
    assert not looks_like_openapi(IMAGES_PAGE.read_text(encoding="utf-8"))


def _error(text: str) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        import_openapi(text, "doc.yaml", "procore")
    assert info.value.location is not None and info.value.location.file == "doc.yaml"
    return info.value


def test_broken_ref_is_located() -> None:
    text = SMALL.read_text(encoding="utf-8").replace(
        '$ref: "#/components/requestBodies/ImageBody"', '$ref: "#/components/requestBodies/Nope"'
    )
    error = _error(text)
    assert "points to nothing" in error.message
    line = text.splitlines().index('        $ref: "#/components/requestBodies/Nope"') + 1
    assert error.location is not None and error.location.line == line


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("openapi: 2.0\npaths: {}\n", "not supported"),
        ("openapi: 3.0.0\npaths: {}\n", "no operations"),
        ("openapi: 3.0.0\npaths: [1]\n", "'paths' must be a mapping"),
        (
            "openapi: 3.0.0\npaths:\n  /x:\n    get:\n      parameters:\n        - in: query\n",
            "needs a 'name'",
        ),
        (
            "openapi: 3.0.0\npaths:\n  /x:\n    get:\n      parameters:\n        - {$ref: 'other.yaml#/x'}\n",
            "only local",
        ),
        ("openapi: 3.0.0\npaths: {/x: [}\n", "invalid YAML"),
        ('{"openapi": "3.0.0", "paths": }', "invalid JSON"),
    ],
    ids=["version", "empty", "paths-type", "no-name", "remote-ref", "yaml-syntax", "json-syntax"],
)
def test_bad_documents(text: str, words: str) -> None:
    error = _error(text)
    assert words in error.message
    assert error.location is not None and error.location.line >= 1


def test_generate_from_openapi_writes_every_operation(tmp_path: Path) -> None:
    written = generate(
        [SMALL],
        "procore",
        tmp_path / "task_definitions",
        tmp_path / "schemas",
        root=tmp_path.parent,
    )
    assert len(written) == 14
    definition = json.loads(
        (tmp_path / "task_definitions/procore/procore.images.list.json").read_text()
    )
    assert definition["x-source"]["format"] == "openapi"
    schema = json.loads((tmp_path / "schemas/procore/procore.images.list.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
