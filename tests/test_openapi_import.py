"""OpenAPI 3 import: the same definitions a reference page gives, refs resolved, errors
located; ids from operationId and collision-free; bad operations skipped; the API profile
a document implies (servers, security schemes, pagination, items, rate limits)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from task_runner.catalogue import Catalogue
from task_runner.catalogue.generator import generate
from task_runner.catalogue.openapi import (
    OpenApiImport,
    import_openapi,
    looks_like_openapi,
    read_openapi,
)
from task_runner.catalogue.opid import Claim, id_from_operation_id, unique_ids
from task_runner.catalogue.reference_parser import parse_reference
from task_runner.catalogue.schema_rules import params_schema
from task_runner.errors import DefinitionError, InputErrors
from task_runner.formats import FORMAT_CHECKER

DATA = Path(__file__).resolve().parent / "data" / "openapi"
SMALL = DATA / "procore-small.yaml"
PETS = DATA / "pets.yaml"
PROCORE_PROFILE = Path(__file__).resolve().parent.parent / "task_definitions/procore/profile.yaml"
IMAGES_PAGE = (
    Path(__file__).resolve().parent.parent
    / "task_definitions/procore/reference/procore-rest-v1.0-images-get.txt"
)


def load(text: str | None = None, file: str = "small.yaml") -> dict[str, dict[str, Any]]:
    text = SMALL.read_text(encoding="utf-8") if text is None else text
    # Procore's hand-written profile asks for name[]= arrays (query_encoding.arrays: brackets)
    # and sorts descending by a "-" prefix (query_encoding.sort_descending_prefix)
    return {
        d["id"]: d
        for d in import_openapi(text, file, "procore", bracket_arrays=True, sort_prefix="-")
    }


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


def test_a_broken_ref_skips_its_operation_only() -> None:
    text = SMALL.read_text(encoding="utf-8").replace(
        '$ref: "#/components/requestBodies/ImageBody"', '$ref: "#/components/requestBodies/Nope"'
    )
    result = read_openapi(text, "doc.yaml", "procore")
    assert [d["id"] for d in result.definitions] == [
        "procore.images.list",  # POST /rest/v1.0/images is gone, the rest is imported
        "procore.images.get",
        "procore.images.replace",
        "procore.images.delete",
        "procore.images.update",
        "procore.projects.locations.list",
    ]
    [error] = result.skipped
    assert "points to nothing" in error.message and error.path == "POST /rest/v1.0/images"
    lines = text.splitlines()
    line = lines.index('        $ref: "#/components/requestBodies/Nope"') + 1
    column = lines[line - 1].index('"#/') + 1  # the $ref's value
    assert str(error).startswith(f"doc.yaml:{line}:{column}: POST /rest/v1.0/images: $ref")


def test_a_skipped_operation_of_a_json_document_is_located_too() -> None:
    data = yaml.safe_load(SMALL.read_text(encoding="utf-8"))
    data["paths"]["/rest/v1.0/projects/{project_id}/locations"]["get"]["parameters"][1] = {
        "$ref": "#/components/parameters/Missing"
    }
    text = json.dumps(data, indent=2)
    [error] = read_openapi(text, "doc.json", "procore").skipped
    lines = text.splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "parameters/Missing" in text)
    column = lines[line - 1].index('"#/') + 1
    assert error.location is not None
    assert (error.location.file, error.location.line, error.location.column) == (
        "doc.json",
        line,
        column,
    )


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
    (tmp_path / "task_definitions/procore").mkdir(parents=True)
    shutil.copy(PROCORE_PROFILE, tmp_path / "task_definitions/procore/profile.yaml")
    written = generate(
        [SMALL],
        "procore",
        tmp_path / "task_definitions",
        tmp_path / "schemas",
        root=tmp_path.parent,
    )
    assert len(written) == 16  # 7 definitions, 7 schemas, the index, the editor schema; the
    # profile is kept
    assert tmp_path / "task_definitions/procore/index.jsonl" in written
    definition = json.loads(
        (tmp_path / "task_definitions/procore/procore.images.list.json").read_text()
    )
    assert definition["x-source"]["format"] == "openapi"
    # the hand-written profile asks for brackets: a query array without [] gets them
    trades = next(p for p in definition["parameters"] if p["name"] == "filters[trade_ids]")
    assert trades["x-style"] == "brackets"
    schema = json.loads((tmp_path / "schemas/procore/procore.images.list.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert (tmp_path / "task_definitions/procore/profile.yaml").read_text() == (
        PROCORE_PROFILE.read_text()
    )


# --- a new user's document: ids from operationId ---------------------------------------


def pets() -> OpenApiImport:
    return read_openapi(PETS.read_text(encoding="utf-8"), str(PETS), "pets")


def test_operation_ids_come_from_operation_id_in_snake_case() -> None:
    result = pets()
    assert [(d["id"], d["method"], d["path"]) for d in result.definitions] == [
        ("pets.list_pets", "GET", "/v1/pets"),
        ("pets.create_pet", "POST", "/v1/pets"),
        ("pets.show_pet_by_id", "GET", "/v1/pets/{petId}"),
        # no operationId: the path rule, on the document's path (no /v1 segment)
        ("pets.pets.delete", "DELETE", "/v1/pets/{petId}"),
        ("pets.list_owners", "GET", "/v1/owners"),
        ("pets.list_owner_pets", "GET", "/v1/owners/{ownerId}/pets"),
    ]
    assert result.definitions[0]["operationId"] == "listPets"
    assert "operationId" not in result.definitions[3]
    assert result.skipped == [] and result.notes == []


@pytest.mark.parametrize(
    ("operation_id", "expected"),
    [
        ("listPets", "pets.list_pets"),
        ("ListPets", "pets.list_pets"),
        ("getHTTPStatus", "pets.get_http_status"),
        ("pets.list", "pets.pets_list"),
        ("get-pet-by-id", "pets.get_pet_by_id"),
        ("créerChien", "pets.creer_chien"),
        ("getV2Pets", "pets.get_v2_pets"),
        ("__x__", "pets.x"),
        ("---", None),
    ],
    ids=["camel", "pascal", "acronym", "dot", "kebab", "accent", "digit", "underscores", "empty"],
)
def test_operation_id_normalisation(operation_id: str, expected: str | None) -> None:
    assert id_from_operation_id("pets", operation_id) == expected


# --- collisions ------------------------------------------------------------------------


def _document(paths: dict[str, Any], **top: Any) -> str:
    return json.dumps(
        {"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": paths, **top}
    )


def _ids(text: str, api: str = "procore") -> dict[tuple[str, str], str]:
    return {(d["method"], d["path"]): d["id"] for d in import_openapi(text, "doc.json", api)}


OK = {"responses": {"200": {"description": "OK"}}}
DISBURSEMENTS = "/rest/v1.0/projects/{project_id}/disbursements"


def test_the_disbursements_pair_is_imported_with_two_ids() -> None:
    text = _document(
        {
            f"{DISBURSEMENTS}/{{disbursement_id}}/validate": {"post": OK},
            f"{DISBURSEMENTS}/validate": {"post": OK},
        }
    )
    assert _ids(text) == {
        ("POST", f"{DISBURSEMENTS}/{{disbursement_id}}/validate"): (
            "procore.projects.disbursements.validate.create_by_disbursement_id"
        ),
        # first in (path, method) order keeps the rule's id, wherever it is in the document
        ("POST", f"{DISBURSEMENTS}/validate"): "procore.projects.disbursements.validate.create",
    }


def test_colliding_operation_ids_get_suffixes() -> None:
    def op(operation_id: str) -> dict[str, Any]:
        return {"operationId": operation_id, **OK}

    text = _document(
        {
            "/a": {"get": op("listThings"), "post": op("listThings")},  # the same id twice
            "/b": {"get": op("list_things")},  # normalises to the same id
            "/c/{c_id}": {"get": op("ListThings")},  # a third, with a path parameter
            "/d": {"get": op("list_things_2")},  # its own id, which a suffix must not take
            "/things": {"get": OK},  # path rule: pets.things.list
            "/e": {"get": op("things.list")},  # normalises to things_list: no collision
        }
    )
    assert _ids(text, "pets") == {
        ("GET", "/a"): "pets.list_things",
        ("POST", "/a"): "pets.list_things_3",
        ("GET", "/b"): "pets.list_things_4",
        ("GET", "/c/{c_id}"): "pets.list_things_by_c_id",
        ("GET", "/d"): "pets.list_things_2",
        ("GET", "/things"): "pets.things.list",
        ("GET", "/e"): "pets.things_list",
    }


def test_an_operation_id_colliding_with_a_path_derived_id() -> None:
    # the path rule gives x.list for GET /; operationId "List" normalises to x.list too
    text = _document({"/all": {"get": {"operationId": "List", **OK}}, "/": {"get": OK}})
    assert _ids(text, "x") == {("GET", "/"): "x.list", ("GET", "/all"): "x.list_2"}


def test_ids_do_not_depend_on_document_order() -> None:
    paths = {
        f"{DISBURSEMENTS}/validate": {"post": OK},
        f"{DISBURSEMENTS}/{{disbursement_id}}/validate": {"post": OK},
        "/rest/v1.0/x": {"get": {"operationId": "dup", **OK}},
        "/rest/v1.0/y": {"get": {"operationId": "dup", **OK}},
        "/rest/v1.0/z/{z_id}": {"get": {"operationId": "dup", **OK}},
    }
    expected = _ids(_document(paths))
    assert len(set(expected.values())) == 5
    shuffled = list(paths.items())
    random.Random(7).shuffle(shuffled)
    assert _ids(_document(dict(shuffled))) == expected


def test_unique_ids_never_takes_an_id_another_operation_claims() -> None:
    claims = [
        Claim("a.x_by_w_id", "GET", "/z"),  # claims what /a/{w_id}/b would be suffixed with
        Claim("a.x", "GET", "/a/{w_id}/b"),
        Claim("a.x", "GET", "/a"),
    ]
    assert unique_ids(claims) == ["a.x_by_w_id", "a.x_2", "a.x"]
    assert unique_ids([Claim("a.x", "GET", "/a"), Claim("a.x", "GET", "/a/{w_id}/b")]) == [
        "a.x",
        "a.x_by_w_id",
    ]


# --- bad operations are skipped, not fatal --------------------------------------------


def test_unsupported_content_skips_the_operation_with_its_location() -> None:
    form_only = {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": {"type": "object"}}},
        },
        **OK,
    }
    array_body = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "array", "items": {}}}},
        },
        **OK,
    }
    optional_form = {
        "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
        **OK,
    }
    text = _document(
        {
            "/upload": {"post": form_only, "put": array_body, "patch": optional_form},
            "/ok": {"get": OK},
        }
    )
    result = read_openapi(text, "doc.json", "x")
    assert [d["id"] for d in result.definitions] == ["x.upload.update", "x.ok.list"]
    assert result.definitions[0]["requestBody"] is None  # optional and not JSON: left out
    messages = {e.path: e.message for e in result.skipped}
    assert messages == {
        "POST /upload": "its request body is multipart/form-data only; task-runner sends JSON bodies",
        "PUT /upload": "its required JSON request body has no named properties for a task's "
        "params to fill (an array, a oneOf or a free-form body)",
    }
    assert all(e.location is not None and e.location.line >= 1 for e in result.skipped)


def test_when_every_operation_is_bad_the_import_fails_with_every_reason() -> None:
    text = _document(
        {
            "/a": {"get": {"parameters": [{"in": "query"}], **OK}},
            "/b": {"get": {"parameters": [{"$ref": "#/nope"}], **OK}},
        }
    )
    with pytest.raises(InputErrors) as info:
        import_openapi(text, "doc.json", "x")
    assert [e.path for e in info.value] == ["GET /a", "GET /b"]
    assert "needs a 'name'" in info.value.errors[0].message
    assert info.value.exit_code == 2


# --- request bodies: what the params schema accepts -----------------------------------


def test_a_json_body_becomes_params_the_schema_validates() -> None:
    create = next(d for d in pets().definitions if d["id"] == "pets.create_pet")
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"].keys() == {"name", "tag"}  # allOf merged, readOnly id dropped
    assert body["required"] == ["name"]
    validator = Draft202012Validator(params_schema(create), format_checker=FORMAT_CHECKER)
    assert validator.is_valid({"name": "Rex", "tag": "dog"})
    assert not validator.is_valid({"tag": "dog"})  # name is required
    assert not validator.is_valid({"name": ""})  # minLength from the component schema
    assert not validator.is_valid({"name": "Rex", "id": 3})  # read-only: not sent


# --- query encoding --------------------------------------------------------------------


def test_arrays_keep_openapi_encoding_unless_the_profile_asks_for_brackets() -> None:
    listing = next(d for d in pets().definitions if d["id"] == "pets.list_pets")
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["tags"]["explode"] is False and "style" not in params["tags"]
    assert "x-style" not in params["kind"] and "explode" not in params["kind"]
    styled = _document(
        {
            "/x/{id}": {
                "get": {
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "style": "label",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "filter",
                            "in": "query",
                            "style": "deepObject",
                            "explode": True,
                            "schema": {"type": "object"},
                        },
                        {
                            "name": "ids",
                            "in": "query",
                            "style": "form",
                            "explode": True,
                            "schema": {"type": "array"},
                        },
                        {
                            "name": "p",
                            "in": "query",
                            "style": "pipeDelimited",
                            "explode": False,
                            "schema": {"type": "array"},
                        },
                    ],
                    **OK,
                }
            }
        }
    )
    [definition] = import_openapi(styled, "doc.json", "x")
    encodings = {
        p["name"]: {k: p[k] for k in ("style", "explode", "x-style") if k in p}
        for p in definition["parameters"]
    }
    assert encodings == {
        "id": {"style": "label"},
        "filter": {"style": "deepObject", "explode": True},
        "ids": {},  # the defaults are not repeated
        "p": {"style": "pipeDelimited"},  # explode false is its default
    }


# --- servers -> environments -----------------------------------------------------------


def test_servers_become_environments() -> None:
    profile = pets().profile
    assert profile["default_environment"] == "production"
    assert profile["environments"] == {
        # the base path /v1 is in every definition's path already
        "production": {"api_base_url": "https://api.example.com", "description": "Production"},
        "sandbox": {  # variables take their defaults; "server" is dropped from the name
            "api_base_url": "https://eu.sandbox.example.com",
            "description": "Sandbox server",
        },
    }
    assert profile["title"] == "Pets API" and profile["api"] == "pets"


def test_servers_without_descriptions_and_relative_ones() -> None:
    servers = [
        {"url": "https://a.example.com/api/"},
        {"url": "https://b.example.com/api"},
        {"url": "/api"},
        {"url": "https://c.example.com", "description": "Production"},
        {"url": "https://d.example.com", "description": "production"},
    ]
    result = read_openapi(_document({"/x": {"get": OK}}, servers=servers), "doc.json", "x")
    environments = result.profile["environments"]
    assert {k: v["api_base_url"] for k, v in environments.items()} == {
        "default": "https://a.example.com",
        "server_2": "https://b.example.com",
        "server_3": "",
        "production": "https://c.example.com",
        "production_2": "https://d.example.com",
    }
    assert result.definitions[0]["path"] == "/api/x"
    assert result.notes == ["server '/api' is not an absolute URL: set the connection's base_url"]
    bare = read_openapi(_document({"/x": {"get": OK}}), "doc.json", "x").profile
    assert bare["environments"]["default"]["api_base_url"] == ""


# --- security schemes -> auth ----------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "entries", "note"),
    [
        (
            {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            {"S": {"kind": "api_key", "in": "header", "name": "X-Api-Key"}},
            None,
        ),
        (
            {"type": "apiKey", "in": "query", "name": "api_key"},
            {"S": {"kind": "api_key", "in": "query", "name": "api_key"}},
            None,
        ),
        ({"type": "apiKey", "in": "cookie", "name": "sid"}, {}, "an API key in a cookie"),
        (
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            {"S": {"kind": "bearer"}},
            None,
        ),
        ({"type": "http", "scheme": "Basic"}, {"S": {"kind": "http_basic"}}, None),
        ({"type": "http", "scheme": "digest"}, {}, "HTTP 'digest' authentication"),
        (
            {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {"read": "r"}}
                },
            },
            {
                "S": {
                    "kind": "oauth2_client_credentials",
                    "token_url": "https://api.example.com/oauth/token",  # relative to the server
                    "scopes": ["read"],
                }
            },
            None,
        ),
        (
            {
                "type": "oauth2",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "https://login.example.com/authorize",
                        "tokenUrl": "https://login.example.com/token",
                        "scopes": {},
                    },
                    "clientCredentials": {
                        "tokenUrl": "https://login.example.com/token",
                        "scopes": {},
                    },
                    "implicit": {"authorizationUrl": "https://login.example.com/a", "scopes": {}},
                },
            },
            {
                "S": {
                    "kind": "oauth2_client_credentials",
                    "token_url": "https://login.example.com/token",
                    "scopes": [],
                },
                "S.authorizationCode": {
                    "kind": "oauth2_refresh_token",
                    "authorization_url": "https://login.example.com/authorize",
                    "token_url": "https://login.example.com/token",
                    "scopes": [],
                },
            },
            "OAuth 2 flow 'implicit'",
        ),
        (
            {"type": "openIdConnect", "openIdConnectUrl": "https://x/.well-known"},
            {},
            "type 'openIdConnect'",
        ),
    ],
    ids=[
        "api-key-header",
        "api-key-query",
        "api-key-cookie",
        "bearer",
        "basic",
        "digest",
        "client-credentials",
        "two-flows",
        "openid",
    ],
)
def test_security_schemes_become_auth_kinds(
    scheme: dict[str, Any], entries: dict[str, Any], note: str | None
) -> None:
    text = _document(
        {"/x": {"get": OK}},
        servers=[{"url": "https://api.example.com/v1"}],
        components={"securitySchemes": {"S": scheme}},
    )
    result = read_openapi(text, "doc.json", "x")
    assert result.profile["auth"]["schemes"] == entries
    assert result.profile["auth"]["kinds"] == list(
        dict.fromkeys(e["kind"] for e in entries.values())
    )
    assert result.notes == ([f"security scheme 'S': {note} is not supported"] if note else [])


# --- list operations: items and pagination ---------------------------------------------


def _list_doc(
    parameters: list[str],
    body: dict[str, Any] | None,
    headers: tuple[str, ...] = (),
    method: str = "get",
) -> str:
    response: dict[str, Any] = {"description": "OK"}
    if body is not None:
        response["content"] = {"application/json": {"schema": body}}
    if headers:
        response["headers"] = {h: {"schema": {"type": "string"}} for h in headers}
    params = [{"name": n, "in": "query", "schema": {"type": "integer"}} for n in parameters]
    return _document(
        {"/things": {method: {"parameters": params, "responses": {"200": response}}}},
        components={
            "schemas": {"Thing": {"type": "object", "properties": {"id": {"type": "string"}}}}
        },
    )


THINGS = {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}


def _listing(text: str) -> tuple[Any, Any, dict[str, Any]]:
    result = read_openapi(text, "doc.json", "x")
    [definition] = result.definitions
    return definition.get("x-items"), result.profile["pagination"], definition


@pytest.mark.parametrize(
    ("parameters", "body", "headers", "pagination"),
    [
        (
            ["page", "per_page"],
            THINGS,
            ("Total", "Link"),
            {
                "style": "page",
                "page_param": "page",
                "per_page_param": "per_page",
                "total_header": "Total",
            },
        ),
        (
            ["offset", "limit"],
            {"type": "object", "properties": {"results": THINGS, "count": {"type": "integer"}}},
            ("X-Total-Count",),
            {
                "style": "offset",
                "offset_param": "offset",
                "limit_param": "limit",
                "total_header": "X-Total-Count",
            },
        ),
        (
            ["starting_after", "limit"],
            {
                "type": "object",
                "properties": {
                    "object": {"type": "string"},
                    "data": THINGS,
                    "has_more": {"type": "boolean"},
                    "url": {"type": "string"},
                },
            },
            (),
            {
                "style": "cursor",
                "limit_param": "limit",
                "cursor_param": "starting_after",
                "cursor_from": "/data/-1/id",
                "has_more": "/has_more",
            },
        ),
        (
            ["cursor"],
            {
                "type": "object",
                "properties": {
                    "items": THINGS,
                    "meta": {"type": "object", "properties": {"next_cursor": {"type": "string"}}},
                },
            },
            (),
            {"style": "cursor", "cursor_param": "cursor", "cursor_from": "/meta/next_cursor"},
        ),
        ([], THINGS, ("Link",), {"style": "link"}),
        (
            [],
            {
                "type": "object",
                "properties": {
                    "results": THINGS,
                    "links": {"type": "object", "properties": {"next": {"type": "string"}}},
                },
            },
            (),
            {"style": "next_url", "next_url": "/links/next"},
        ),
        (
            [],
            {
                "type": "object",
                "properties": {"next": {"type": "string", "format": "uri"}, "results": THINGS},
            },
            (),
            {"style": "next_url", "next_url": "/next"},
        ),
        ([], THINGS, (), {"style": "none"}),
    ],
    ids=[
        "page",
        "offset-limit",
        "cursor-stripe",
        "cursor-meta",
        "link-only",
        "links-next",
        "next",
        "none",
    ],
)
def test_pagination_styles_are_detected(
    parameters: list[str],
    body: dict[str, Any],
    headers: tuple[str, ...],
    pagination: dict[str, Any],
) -> None:
    _, profile_pagination, definition = _listing(_list_doc(parameters, body, headers))
    assert profile_pagination == pagination
    assert "x-pagination" not in definition  # the only list operation: it is the profile's


@pytest.mark.parametrize(
    ("body", "items"),
    [
        (THINGS, ""),
        ({"type": "object", "properties": {"data": THINGS, "total": {"type": "integer"}}}, "/data"),
        (  # the only array among paging fields, whatever its name
            {"type": "object", "properties": {"pets": THINGS, "nextPageToken": {"type": "string"}}},
            "/pets",
        ),
        (  # JSON:API: data beside included and links
            {
                "type": "object",
                "properties": {"data": THINGS, "included": THINGS, "links": {"type": "object"}},
            },
            "/data",
        ),
        (  # allOf of a paging envelope and the list
            {
                "allOf": [
                    {"type": "object", "properties": {"has_more": {"type": "boolean"}}},
                    {"type": "object", "properties": {"records": THINGS}},
                ]
            },
            "/records",
        ),
        (  # one resource with an array field is not a list
            {"type": "object", "properties": {"id": {"type": "string"}, "tags": THINGS}},
            None,
        ),
        ({"type": "object", "properties": {"a": THINGS, "b": THINGS}}, None),
    ],
    ids=["bare-array", "data", "single-array", "json-api", "all-of", "resource", "two-arrays"],
)
def test_items_pointer_is_detected(body: dict[str, Any], items: str | None) -> None:
    found, _, definition = _listing(_list_doc(["page"], body))
    assert found == items
    assert ("x-items" in definition) == (items is not None)


def test_items_of_a_non_get_list_and_no_pagination_for_it() -> None:
    found, pagination, definition = _listing(_list_doc([], THINGS, method="post"))
    assert found == "" and pagination == {"style": "none"} and "x-pagination" not in definition


def test_the_most_common_style_wins_and_the_others_are_marked() -> None:
    result = pets()
    assert result.profile["pagination"] == {
        "style": "page",
        "page_param": "page",
        "per_page_param": "per_page",
        "total_header": "Total",
    }
    assert result.profile["items"] == "/data"
    by_id = {d["id"]: d for d in result.definitions}
    assert "x-pagination" not in by_id["pets.list_pets"]
    assert "x-pagination" not in by_id["pets.list_owners"]
    assert by_id["pets.list_owner_pets"]["x-pagination"] == {
        "style": "cursor",
        "limit_param": "limit",
        "cursor_param": "starting_after",
        "cursor_from": "/data/-1/id",
        "has_more": "/has_more",
    }
    assert by_id["pets.list_pets"]["x-items"] == "/data"
    assert (
        "x-items" not in by_id["pets.show_pet_by_id"] and "x-items" not in by_id["pets.create_pet"]
    )


def test_rate_limit_headers_and_query_encoding() -> None:
    profile = pets().profile
    assert profile["rate_limit"] == {
        "limit_header": "X-RateLimit-Limit",
        "remaining_header": "X-RateLimit-Remaining",
        "retry_after_header": "Retry-After",  # from the 429 response
    }
    assert profile["query_encoding"] == {"arrays": "repeat"}
    assert profile["auth"] == {
        "kinds": ["api_key"],
        "schemes": {"ApiKeyAuth": {"kind": "api_key", "in": "header", "name": "X-Api-Key"}},
    }
    assert list(profile) == [
        "api",
        "title",
        "default_environment",
        "environments",
        "auth",
        "pagination",
        "items",
        "rate_limit",
        "query_encoding",
    ]


# --- the generated profile, as the catalogue reads it ----------------------------------


def test_a_generated_profile_is_what_the_catalogue_reads(tmp_path: Path) -> None:
    written = generate([PETS], "pets", tmp_path / "defs", tmp_path / "schemas")
    profile_file = tmp_path / "defs/pets/profile.yaml"
    assert profile_file in written
    assert profile_file.read_text().startswith("# Generated by task-runner apis generate from ")
    profile = Catalogue.load([tmp_path / "defs"]).profile("pets")
    assert profile is not None
    assert profile.title == "Pets API" and profile.default_environment == "production"
    assert profile.base_url() == "https://api.example.com"
    assert profile.base_url("sandbox") == "https://eu.sandbox.example.com"
    assert profile.auth_kinds == ("api_key",)
    assert profile.auth_schemes["ApiKeyAuth"]["name"] == "X-Api-Key"
    assert profile.pagination["style"] == "page" and profile.items == "/data"
    assert profile.query_encoding == {"arrays": "repeat"}
    assert profile.rate_limit["remaining_header"] == "X-RateLimit-Remaining"


def test_a_generated_oauth_profile_gives_its_token_url(tmp_path: Path) -> None:
    text = _document(
        {"/x": {"get": OK}},
        servers=[{"url": "https://api.example.com"}],
        components={
            "securitySchemes": {
                "O": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "https://id.example.com/token",
                            "scopes": {},
                        }
                    },
                }
            }
        },
    )
    source = tmp_path / "o.json"
    source.write_text(text)
    generate([source], "o", tmp_path / "defs", tmp_path / "schemas")
    profile = Catalogue.load([tmp_path / "defs"]).profile("o")
    assert profile is not None and profile.token_url() == "https://id.example.com/token"
    assert profile.auth_kinds == ("oauth2_client_credentials",)


def test_yaml_dates_stay_strings_as_in_json(tmp_path: Path) -> None:
    source = tmp_path / "dates.yaml"
    source.write_text(
        "openapi: 3.0.3\ninfo: {title: D, version: 2024-01-01}\npaths:\n  /days:\n    get:\n"
        "      parameters:\n        - {name: since, in: query, schema: {type: string, "
        "format: date, default: 2024-01-01, example: 2024-01-01T10:00:00Z}}\n"
        "      responses: {'200': {description: ok}}\n"
    )
    generate([source], "d", tmp_path / "defs", tmp_path / "schemas")  # dumps as JSON
    definition = json.loads((tmp_path / "defs/d/d.days.list.json").read_text())
    schema = definition["parameters"][0]["schema"]
    assert schema["default"] == "2024-01-01" and schema["example"] == "2024-01-01T10:00:00Z"
