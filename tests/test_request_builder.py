"""Rendered params -> the request on the wire: Procore query encoding, headers, safe paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from task_runner.catalogue import Catalogue, OperationDefinition
from task_runner.errors import SchemaValidationError, TemplateError
from task_runner.model import ConnectionConfig
from task_runner.workflow.request_builder import (
    build_operation_request,
    build_raw_request,
    encode_query,
    encode_scalar,
    join_url,
    static_origin,
)

DEFINITIONS = Path(__file__).parent / "data" / "workflows" / "definitions"
CONN = ConnectionConfig(name="api", base_url="https://api.example.com")


@pytest.fixture(scope="module")
def images_list() -> OperationDefinition:
    return Catalogue.load().get("procore.images.list")


@pytest.fixture(scope="module")
def project_images() -> OperationDefinition:
    return Catalogue.load([DEFINITIONS]).get("testapi.projects.images.list")


# --- query encoding ------------------------------------------------------------------------


def test_procore_array_and_boolean_encoding(images_list: OperationDefinition) -> None:
    request = build_operation_request(
        images_list,
        {
            "Procore-Company-Id": 8089,
            "project_id": 777,
            "filters[trade_ids][]": [31, 32],
            "filters[starred]": True,
            "filters[private]": False,
        },
        CONN,
        task="t",
    )
    assert request.query == (
        ("project_id", "777"),
        ("filters[trade_ids][]", "31"),
        ("filters[trade_ids][]", "32"),
        ("filters[starred]", "true"),
        ("filters[private]", "false"),
    )
    assert request.method == "GET"
    assert request.url == "https://api.example.com/rest/v1.0/images"
    assert request.full_url() == (
        "https://api.example.com/rest/v1.0/images?project_id=777"
        "&filters%5Btrade_ids%5D%5B%5D=31&filters%5Btrade_ids%5D%5B%5D=32"
        "&filters%5Bstarred%5D=true&filters%5Bprivate%5D=false"
    )


def test_header_params_become_headers(images_list: OperationDefinition) -> None:
    request = build_operation_request(
        images_list, {"Procore-Company-Id": 8089, "project_id": 777}, CONN
    )
    assert request.headers["Procore-Company-Id"] == "8089"
    assert ("Procore-Company-Id", "8089") not in request.query
    assert request.headers["Accept"] == "application/json"


def test_connection_headers_are_kept(images_list: OperationDefinition) -> None:
    conn = ConnectionConfig(name="api", base_url="https://x.example", headers={"X-A": "1"})
    request = build_operation_request(images_list, {"project_id": 1}, conn)
    assert request.headers["X-A"] == "1"


@pytest.mark.parametrize(
    ("name", "value", "pairs"),
    [
        ("a", True, [("a", "true")]),
        ("a", False, [("a", "false")]),
        ("a", None, []),
        ("a", 1.5, [("a", "1.5")]),
        ("ids", [1, 2], [("ids[]", "1"), ("ids[]", "2")]),
        ("ids[]", [1, 2], [("ids[]", "1"), ("ids[]", "2")]),
        ("filters", {"starred": True}, [("filters[starred]", "true")]),
        ("filters", {"ids": [1]}, [("filters[ids][]", "1")]),
    ],
)
def test_encode_query(name: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    assert list(encode_query(name, value)) == pairs


def test_encode_query_without_brackets() -> None:
    assert list(encode_query("ids", [1, 2], brackets=False)) == [("ids", "1"), ("ids", "2")]


def test_encode_scalar() -> None:
    assert [encode_scalar(v) for v in (True, False, None, 0, "x")] == [
        "true",
        "false",
        "",
        "0",
        "x",
    ]


_SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(
    name=st.text(min_size=1, max_size=20).filter(lambda s: not s.endswith("[]")),
    values=st.lists(_SCALARS, max_size=5),
)
def test_encode_query_round_trips_through_parse_qsl(name: str, values: list[Any]) -> None:
    pairs = list(encode_query(name, values))
    assert pairs == [(f"{name}[]", encode_scalar(v)) for v in values]
    decoded = parse_qsl(urlencode(pairs), keep_blank_values=True)
    assert decoded == pairs


@given(name=st.text(min_size=1, max_size=20), value=_SCALARS)
def test_a_scalar_round_trips_through_parse_qsl(name: str, value: Any) -> None:
    pairs = list(encode_query(name, value))
    assert parse_qsl(urlencode(pairs), keep_blank_values=True) == [(name, encode_scalar(value))]


# --- path parameters -----------------------------------------------------------------------


def test_a_path_parameter_is_percent_encoded(project_images: OperationDefinition) -> None:
    request = build_operation_request(
        project_images, {"project_id": "a b/c?d#e", "Procore-Company-Id": 1}, CONN
    )
    assert request.url == "https://api.example.com/rest/v1.0/projects/a%20b%2Fc%3Fd%23e/images"


@pytest.mark.parametrize("value", ["..", ".", ""])
def test_a_path_parameter_cannot_climb_out(project_images: OperationDefinition, value: str) -> None:
    with pytest.raises(SchemaValidationError) as info:
        build_operation_request(
            project_images, {"project_id": value, "Procore-Company-Id": 1}, CONN, task="t"
        )
    assert info.value.path == "t.params.project_id"
    assert "would change the request path" in info.value.message


def test_a_missing_path_parameter_is_refused(project_images: OperationDefinition) -> None:
    with pytest.raises(SchemaValidationError, match="is not under"):
        build_operation_request(project_images, {"Procore-Company-Id": 1}, CONN)


@given(st.text(min_size=1, max_size=30).filter(lambda s: s not in (".", "..")))
def test_a_path_value_is_always_one_segment_on_the_same_host(value: str) -> None:
    operation = Catalogue.load([DEFINITIONS]).get("testapi.projects.images.list")
    request = build_operation_request(
        operation, {"project_id": value, "Procore-Company-Id": 1}, CONN
    )
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc) == ("https", "api.example.com")
    segments = parts.path.split("/")
    assert segments[:4] == ["", "rest", "v1.0", "projects"] and segments[5:] == ["images"]
    assert unquote(segments[4]) == value
    assert not parts.query and not parts.fragment


def test_a_base_path_prefix_is_kept(images_list: OperationDefinition) -> None:
    conn = ConnectionConfig(name="api", base_url="https://api.example.com/prefix/")
    request = build_operation_request(images_list, {"project_id": 1}, conn)
    assert request.url == "https://api.example.com/prefix/rest/v1.0/images"
    assert join_url("https://h/", "/x") == "https://h/x"


@pytest.mark.parametrize("base", ["api.example.com", "ftp://api.example.com", "https://", ""])
def test_a_base_url_must_be_http(images_list: OperationDefinition, base: str) -> None:
    with pytest.raises(SchemaValidationError, match="not an http"):
        build_operation_request(images_list, {"project_id": 1}, ConnectionConfig("c", base))


# --- raw requests: the host never comes from a value -------------------------------------


@pytest.mark.parametrize(
    ("source", "origin"),
    [
        ("https://api.example.com/x/{{ inputs.p }}", "https://api.example.com"),
        ("https://api.example.com", "https://api.example.com"),
        ("https://api.example.com?a={{ x }}", "https://api.example.com"),
        ("https://{{ inputs.host }}/x", None),
        ("https://api.example.com{{ inputs.rest }}", None),
        ("{{ inputs.url }}", None),
        ("//api.example.com/x", None),
    ],
)
def test_static_origin(source: str, origin: str | None) -> None:
    assert static_origin(source) == origin


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("https://{{ inputs.host }}/x", "https://evil.example/x"),
        ("https://api.example.com{{ inputs.rest }}", "https://api.example.com.evil.example/x"),
        ("https://api.example.com{{ inputs.rest }}", "https://api.example.com@evil.example/x"),
        ("{{ inputs.url }}", "https://evil.example/"),
    ],
)
def test_a_raw_url_without_connection_needs_a_literal_host(source: str, rendered: str) -> None:
    with pytest.raises(TemplateError) as info:
        build_raw_request({"url": source}, {"url": rendered}, None, task="raw")
    assert info.value.path == "raw.request.url"


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("{{ inputs.url }}", "https://evil.example/x"),
        ("{{ inputs.url }}", "//evil.example/x"),
        ("/{{ inputs.p }}", "//evil.example/x"),
        ("https://api.example.com/{{ inputs.p }}", "https://api.example.com/../admin"),
        ("/x/{{ inputs.p }}", "/x/../../admin"),
    ],
)
def test_a_raw_url_with_a_connection_stays_under_it(source: str, rendered: str) -> None:
    with pytest.raises(TemplateError):
        build_raw_request({"url": source}, {"url": rendered}, CONN, task="raw")


def test_a_raw_request_is_built(images_list: OperationDefinition) -> None:
    del images_list
    spec = {"method": "post", "url": "/rest/v1.0/things", "query": {}, "body": {}}
    rendered = {
        "method": "post",
        "url": "/rest/v1.0/things",
        "query": {"ids": [1, 2], "on": True},
        "headers": {"X-N": 5},
        "body": {"name": "x"},
    }
    request = build_raw_request(spec, rendered, CONN, task="raw")
    assert request.method == "POST"
    assert request.url == "https://api.example.com/rest/v1.0/things"
    assert request.query == (("ids[]", "1"), ("ids[]", "2"), ("on", "true"))
    assert request.headers["X-N"] == "5"
    assert json.dumps(request.body) == '{"name": "x"}'


@pytest.mark.parametrize("rendered", ["/x/%2e%2e/%2e%2e/admin", "/x/%2E%2E/admin", "/x/.%2e/admin"])
def test_percent_encoded_dots_cannot_climb_out(rendered: str) -> None:
    conn = ConnectionConfig(name="api", base_url="https://api.example.com/base")
    with pytest.raises(TemplateError):
        build_raw_request({"url": "/x/{{ inputs.p }}"}, {"url": rendered}, conn, task="raw")
