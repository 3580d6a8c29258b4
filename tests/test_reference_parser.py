"""The reference-page parser: the images page, pages the tests write, and arbitrary text."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from task_runner.catalogue.reference_parser import parse_reference
from task_runner.catalogue.schema_rules import params_schema
from task_runner.errors import DefinitionError
from task_runner.formats import FORMAT_CHECKER

ROOT = Path(__file__).resolve().parent.parent
IMAGES_PAGE = (
    ROOT / "task_definitions" / "procore" / "reference" / "procore-rest-v1.0-images-get.txt"
)

ANY_ID = ["integer", "string"]

# name, in, type, required, enum, default, format -- exactly as the page describes them
IMAGES_PARAMETERS: list[tuple[str, str, Any, bool, Any, Any, Any]] = [
    ("Procore-Company-Id", "header", "integer", True, None, None, None),
    ("image_category_id", "query", "integer", False, None, None, None),
    ("project_id", "query", "integer", True, None, None, None),
    ("filters[created_at]", "query", "string", False, None, None, "iso8601-range"),
    (
        "sort",
        "query",
        "string",
        False,
        ["deleted_at", "taken_at", "exposure_date", "most_recent", "created_at"],
        None,
        None,
    ),
    ("filters[trade_ids][]", "query", "array", False, None, None, None),
    ("filters[location_id][]", "query", "array", False, None, None, None),
    ("filters[log_date]", "query", "string", False, None, None, "date-or-date-range"),
    ("filters[starred]", "query", "boolean", False, None, False, None),
    ("page", "query", "integer", False, None, None, None),
    ("per_page", "query", "integer", False, None, None, None),
    ("filters[private]", "query", "boolean", False, None, False, None),
    ("filters[updated_at]", "query", "string", False, None, None, "iso8601-range"),
    ("filters[include_sublocations]", "query", "boolean", False, None, False, None),
    ("filters[id][]", "query", "array", False, None, None, None),
    (
        "serializer_view",
        "query",
        "string",
        False,
        ["android", "normal", "mobile", "mobile_feed", "ids_only", "prostore_file"],
        None,
        None,
    ),
    ("filters[query]", "query", "string", False, None, None, None),
]


def parse(text: str, file: str = "page.txt") -> dict[str, Any]:
    return parse_reference(text, file, api="procore")


@pytest.fixture(scope="module")
def images() -> dict[str, Any]:
    return parse(IMAGES_PAGE.read_text(encoding="utf-8"), str(IMAGES_PAGE))


def test_images_page_operation(images: dict[str, Any]) -> None:
    assert images["id"] == "procore.images.list"
    assert (images["method"], images["path"]) == ("GET", "/rest/v1.0/images")
    assert (
        images["summary"]
        == "Return a list of all Images from a Project's Photo Album (Image Category)."
    )
    assert images["description"].startswith("See Filtering on List Actions")
    assert "How to start" not in str(images)
    assert images["requestBody"] is None


def test_images_page_has_exactly_the_17_parameters(images: dict[str, Any]) -> None:
    got = [
        (
            p["name"],
            p["in"],
            p["schema"]["type"],
            p["required"],
            p["schema"].get("enum"),
            p["schema"].get("default"),
            p["schema"].get("format"),
        )
        for p in images["parameters"]
    ]
    assert got == IMAGES_PARAMETERS
    arrays = [p for p in images["parameters"] if p["schema"]["type"] == "array"]
    assert all(p["schema"]["items"] == {"type": ANY_ID} for p in arrays)
    assert all("x-style" not in p for p in arrays)  # names already end in []


def test_images_page_descriptions(images: dict[str, Any]) -> None:
    by_name = {p["name"]: p for p in images["parameters"]}
    assert by_name["project_id"]["description"] == "Unique identifier for the project."
    assert by_name["page"]["description"] == "Page"
    assert (
        by_name["filters[include_sublocations]"]["description"]
        == "Use together with filters[location_id]"
    )
    assert by_name["serializer_view"]["description"].endswith("Default view is normal.")
    assert "default" not in by_name["serializer_view"]["schema"]  # the page states no default value


def test_images_params_schema_validates_like_the_api(images: dict[str, Any]) -> None:
    schema = params_schema(images)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    good = {
        "Procore-Company-Id": 1,
        "project_id": 777,
        "filters[created_at]": "2016-09-23T16:30:00Z...2016-09-23T17:00:00Z",
        "filters[updated_at]": "2016-09-23...2016-09-24",
        "filters[log_date]": "2024-05-01",
        "filters[trade_ids][]": [1, "2"],
        "sort": "-created_at,taken_at",
    }
    assert list(validator.iter_errors(good)) == []
    assert schema["required"] == ["Procore-Company-Id", "project_id"]
    assert schema["properties"]["Procore-Company-Id"]["x-in"] == "header"
    for bad in (
        {"filters[created_at]": "2024-05-01"},  # a single date is not a range
        {"filters[log_date]": "2024-05-01T00:00:00Z...2024-05-02T00:00:00Z"},
        {"sort": "-name"},
        {"sort": "created_at,"},
        {"serializer_view": "compact"},
        {"unknown": 1},
    ):
        assert not validator.is_valid({"Procore-Company-Id": 1, "project_id": 7, **bad}), bad
    assert validator.is_valid({"Procore-Company-Id": 1, "project_id": 7, "sort": "-deleted_at"})


# --- pages the tests write --------------------------------------------------------------

PROJECT_IMAGE_PAGE = """\
PATCH /rest/v1.0/projects/{project_id}/images/{id}

Update an image.

Path parameters

Name Type Required Description
project_id Integer Yes

Unique identifier for the project.

id Integer Yes

Image ID

Request headers

Name Type Required Description
Procore-Company-Id Integer Yes

Request body fields

Name Type Required Description
image Object Yes

Image object

image.description String No

Description

image.image_category.name String Yes

Category name

image.trade_ids Array No
image.kind String No
Possible values:

  • "photo"
  • "drawing"
image.rotation Integer No

Default value: 90

How to start integrating

  1. Add HTTP Task to your workflow definition.
"""


def test_path_parameters_and_nested_body_fields() -> None:
    definition = parse(PROJECT_IMAGE_PAGE)
    assert definition["id"] == "procore.projects.images.update"
    assert [(p["name"], p["in"], p["required"]) for p in definition["parameters"]] == [
        ("project_id", "path", True),
        ("id", "path", True),
        ("Procore-Company-Id", "header", True),
    ]
    body = definition["requestBody"]
    assert body["required"] is True
    root = body["content"]["application/json"]["schema"]
    assert root["required"] == ["image"] and root["additionalProperties"] is False
    image = root["properties"]["image"]
    assert image["type"] == "object" and image["description"] == "Image object"
    assert list(image["properties"]) == [
        "description",
        "image_category",
        "trade_ids",
        "kind",
        "rotation",
    ]
    category = image["properties"]["image_category"]
    assert category["required"] == ["name"]  # its own required list
    assert image["required"] == ["image_category"]  # unlisted parent of a required field
    assert image["properties"]["kind"]["enum"] == ["photo", "drawing"]
    assert image["properties"]["rotation"]["default"] == 90
    schema = params_schema(definition)
    assert schema["properties"]["image"]["x-in"] == "body"
    assert schema["required"] == ["project_id", "id", "Procore-Company-Id", "image"]


def test_parameter_without_description_and_enum_right_after_type_line() -> None:
    page = """\
GET /rest/v1.0/things

List things.

Query parameters

view String No
Possible values:
  • "a"
  • "b"
count Integer No
flag Boolean Yes

Default value: true
"""
    params = {p["name"]: p for p in parse(page)["parameters"]}
    assert params["view"]["schema"]["enum"] == ["a", "b"]
    assert params["view"]["description"] == ""
    assert params["count"]["description"] == ""
    assert params["flag"]["schema"]["default"] is True and params["flag"]["required"] is True


def test_string_default_is_a_string_and_brackets_are_restored() -> None:
    page = """\
GET /rest/v1.0/things

List things.

Request headers

Accept String No
Default value: "application/json"

Query parameters

filtersvendor_id Integer No
filtersstatus[] Array No
ids Array No
"""
    params = {p["name"]: p for p in parse(page)["parameters"]}
    assert params["Accept"]["schema"]["default"] == "application/json"
    assert params["filters[vendor_id]"]["schema"]["type"] == "integer"
    assert "filters[status][]" in params
    assert params["ids"]["x-style"] == "brackets"  # sent as ids[]=1&ids[]=2


def _error(text: str) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        parse(text, "bad.txt")
    assert info.value.location is not None and info.value.location.file == "bad.txt"
    assert info.value.exit_code == 2
    return info.value


HEAD = "GET /rest/v1.0/things\n\nList things.\n\nQuery parameters\n\n"


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        (HEAD + "a Widget No\n", 7, 3, "unknown type 'Widget'"),
        (
            HEAD + "a String No\n\nb String No\n\na Integer No\n",
            11,
            1,
            "listed twice (first on line 7)",
        ),
        ("List things.\nGET /x\n", 1, 1, "no method line"),
        ("", 1, 1, "no method line"),
        ("GET /x/{id\n\nsummary\n", 1, 8, "unbalanced braces"),
        (HEAD + "a String\n", 7, 9, "no Required column"),
        (HEAD, 5, 1, "lists no parameters"),
        (HEAD + "a String No\nPossible values:\n", 8, 1, "lists no values"),
        (HEAD + "a String No\nDefault value:\n", 8, 15, "has no value"),
        (HEAD + "a Integer No\nDefault value: abc\n", 8, 16, "is not a Integer"),
        (HEAD + "Some stray text\n", 7, 1, "expected a parameter row"),
        ("GET /rest/v1.0/x\n\nPath parameters\n\nid Integer Yes\n", 2, 1, "no summary"),
        ("GET /x\n\ns\n\nServers\n\nnot a url\n", 7, 1, "expected a server URL"),
    ],
    ids=[
        "unknown-type",
        "duplicate",
        "no-method-line",
        "empty",
        "bad-path",
        "truncated-row",
        "truncated-section",
        "truncated-enum",
        "truncated-default",
        "untyped-default",
        "stray-text",
        "no-summary",
        "bad-server",
    ],
)
def test_bad_pages_give_located_errors(text: str, line: int, column: int, words: str) -> None:
    error = _error(text)
    assert words in error.message
    assert (error.location.line, error.location.column) == (line, column)  # type: ignore[union-attr]


def test_truncated_images_page_is_an_error() -> None:
    lines = IMAGES_PAGE.read_text(encoding="utf-8").splitlines()
    cut = lines.index("filtersquery String No")
    error = _error("\n".join([*lines[:cut], "filtersquery String"]))
    assert error.location is not None and error.location.line == cut + 1


def test_path_placeholder_not_listed_is_added_required() -> None:
    definition = parse("GET /rest/v1.0/images/{id}\n\nShow image.\n")
    assert definition["id"] == "procore.images.get"
    assert definition["parameters"] == [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": ANY_ID},
            "description": "",
        }
    ]


# --- property-based ------------------------------------------------------------------------

LINES = st.sampled_from(
    [
        "GET /rest/v1.0/images",
        "POST /x/{id}",
        "",
        "Query parameters",
        "Request body fields",
        "Path parameters",
        "Servers",
        "Name Type Required Description",
        "project_id Integer Yes",
        "a.b String No",
        "a Object Yes",
        "a Array No",
        "a[].c Integer Yes",
        "a.b.c String Yes",
        ".x String No",
        "filterscreated_at String No",
        "x Widget No",
        "Possible values:",
        '  • "a"',
        "Default value: false",
        "Default value:",
        "How to start integrating",
        "some text",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(LINES, max_size=25).map("\n".join)))
def test_arbitrary_text_gives_a_definition_or_a_located_error(text: str) -> None:
    try:
        definition = parse(text, "fuzz.txt")
    except DefinitionError as exc:
        assert exc.location is not None and exc.location.file == "fuzz.txt"
        assert exc.location.line >= 1
        return
    assert definition["id"].startswith("procore.")
    Draft202012Validator.check_schema(params_schema(definition))


NAMES = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("filters")
)
TYPES = st.sampled_from(["Integer", "String", "Boolean", "Number", "Array", "Object"])


@settings(max_examples=100)
@given(
    st.dictionaries(
        NAMES,
        st.tuples(TYPES, st.booleans(), st.text(string.ascii_letters + " .", max_size=40)),
        min_size=1,
        max_size=8,
    )
)
def test_written_pages_round_trip(rows: dict[str, tuple[str, bool, str]]) -> None:
    body = [HEAD.rstrip("\n"), ""]
    for name, (kind, required, description) in rows.items():
        body += [f"{name} {kind} {'Yes' if required else 'No'}", "", description, ""]
    definition = parse("\n".join(body))
    got = {
        p["name"]: (p["schema"]["type"], p["required"], p["description"])
        for p in definition["parameters"]
    }
    want = {n: (k.lower(), r, d.strip()) for n, (k, r, d) in rows.items()}
    assert got == want
