"""``update_task``: an existing task's params and connection edited line by line, the rest
of the file byte for byte (the studio's edit form saves through it)."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from task_runner.errors import UsageError
from task_runner.studio import edit
from task_runner.studio.edit import update_task

HEAD = """\
# yaml-language-server: $schema=schemas/workflow.schema.json
name: edit-me   # the name
connections:
  procore: {api: procore, base_url: "https://api.example.test"}
  other: {api: procore, base_url: "https://other.example.test"}
tasks:
"""
TASK = """\
  list_images:
    operation: procore.images.list   # GET /rest/v1.0/images
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"   # the company
      project_id: 777
      "filters[updated_at]": "2024-01-01...2024-01-31"
      ids: [1,
        2]   # folded list
      # optional parameters: uncomment and fill in what you need
      # per_page:   # integer; items per page
      # sort:   # one of created_at, -created_at
    # paginate: all   # every page
    retry: {max_attempts: 2}   # keep me
"""
TAIL = """\
  second:
    operation: procore.images.list
    params: {}   # nothing yet
"""
TEXT = HEAD + TASK + TAIL


def params_of(text: str, task: str = "list_images") -> Any:
    return yaml.safe_load(text)["tasks"][task].get("params")


def test_a_changed_value_keeps_its_key_spacing_and_comment() -> None:
    params = {**params_of(TEXT), "Procore-Company-Id": 8089}
    after = update_task(TEXT, "list_images", params)
    assert "      Procore-Company-Id: 8089   # the company\n" in after
    assert after.replace("8089", '"{{ inputs.company_id }}"', 1) == TEXT


def test_an_optional_parameter_add_task_left_commented_is_uncommented() -> None:
    params = {**params_of(TEXT), "per_page": 50}
    after = update_task(TEXT, "list_images", params)
    assert "      per_page: 50   # integer; items per page\n" in after
    assert "      # sort:   # one of created_at, -created_at\n" in after
    assert params_of(after) == params


def test_a_multi_line_value_becomes_one_line_and_a_cleared_one_goes() -> None:
    params = {**params_of(TEXT), "ids": [3]}
    del params["filters[updated_at]"]
    after = update_task(TEXT, "list_images", params)
    assert "      ids: [3]\n" in after and "filters" not in after
    assert params_of(after) == params
    assert after.startswith(HEAD) and after.endswith(TAIL)


def test_empty_params_become_a_block_and_the_connection_changes() -> None:
    after = update_task(TEXT, "second", {"project_id": 1}, connection="other")
    assert after.endswith(
        "  second:\n    operation: procore.images.list\n    connection: other\n"
        "    params:   # nothing yet\n      project_id: 1\n"
    )
    assert after.startswith(HEAD + TASK)


def test_windows_line_endings_are_kept() -> None:
    crlf = TEXT.replace("\n", "\r\n")
    after = update_task(crlf, "list_images", {**params_of(TEXT), "project_id": 778})
    assert after == crlf.replace("project_id: 777", "project_id: 778")


KEYS = st.sampled_from(
    ["project_id", "per_page", "sort", "filters[updated_at]", "Procore-Company-Id", "ids", "x y"]
)
VALUES = st.one_of(
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.text(string.ascii_letters + string.digits + " -_.:#{}'\"[],", max_size=20),
    st.lists(st.integers(0, 99), max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6), st.sampled_from([None, "procore", "other"]))
def test_any_edit_gives_exactly_the_asked_params_and_keeps_the_rest(
    params: dict[str, Any], connection: str | None
) -> None:
    with mock.patch.object(edit, "_rewrite", side_effect=AssertionError("not surgical")):
        after = update_task(TEXT, "list_images", params, connection)
    data, before = yaml.safe_load(after), yaml.safe_load(TEXT)
    assert (data["tasks"]["list_images"]["params"] or {}) == params
    assert data["tasks"]["list_images"]["connection"] == (connection or "procore")
    assert data["tasks"]["second"] == before["tasks"]["second"]
    assert data["connections"] == before["connections"]
    assert after.startswith(HEAD)  # comments and layout before the task, byte for byte
    assert after.endswith(TAIL)
    assert "    retry: {max_attempts: 2}   # keep me\n" in after


def test_a_layout_it_cannot_splice_falls_back_to_the_round_trip_writer() -> None:
    odd = "name: odd\ntasks: {t: {operation: procore.images.list, params: {a: 1}}}  # flow\n"
    after = update_task(odd, "t", {"a": 2, "b": [1]})
    assert yaml.safe_load(after)["tasks"]["t"]["params"] == {"a": 2, "b": [1]}
    assert "# flow" in after


def test_a_raw_request_or_a_missing_task_is_refused_with_a_reason() -> None:
    raw = "name: raw\ntasks:\n  t:\n    request: {method: GET, url: https://x.test}\n"
    with pytest.raises(UsageError, match="raw request"):
        update_task(raw, "t", {"a": 1})
    with pytest.raises(UsageError, match="no task 'nope'"):
        update_task(TEXT, "nope", {})
    with pytest.raises(UsageError, match="does not parse"):
        update_task("tasks: [", "t", {})


EXAMPLES = sorted(
    (Path(__file__).resolve().parent.parent / "examples" / "workflows").glob("*.yaml")
)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_task_edits_one_line_per_changed_param(example: Path) -> None:
    text = example.read_text()
    tasks = yaml.safe_load(text)["tasks"]
    for name, task in tasks.items():
        if "operation" not in task:
            continue
        params = dict(task.get("params") or {})
        with mock.patch.object(edit, "_rewrite", side_effect=AssertionError("not surgical")):
            assert update_task(text, name, params) == text  # nothing asked, nothing changed
            for key in params:
                after = update_task(text, name, {**params, key: 4242})
                assert len(after.splitlines()) == len(text.splitlines())
                pairs = zip(text.splitlines(), after.splitlines(), strict=True)
                changed = [(a, b) for a, b in pairs if a != b]
                assert len(changed) == 1 and "4242" in changed[0][1], (name, key, changed)
                assert yaml.safe_load(after)["tasks"][name]["params"][key] == 4242
