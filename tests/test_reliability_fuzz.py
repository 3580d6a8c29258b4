"""Fuzzing: workflow loading, reference parsing and template rendering raise nothing
but TaskRunnerError subclasses (the CLI prints those as messages; anything else would
be a traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from task_runner.catalogue import Catalogue
from task_runner.catalogue.reference_parser import parse_reference
from task_runner.errors import TaskRunnerError
from task_runner.workflow import load_workflow
from task_runner.workflow.templating import Namespace, TemplateEngine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "examples" / "workflows" / "procore_images.yaml").read_text()
REFERENCE = next((ROOT / "task_definitions" / "procore" / "reference").glob("*.txt")).read_text()
CATALOGUE = Catalogue.load()
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["{{", "}}", "{{ inputs.x }}", "{% if %}", "1d", "-1s", "all", "GET"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = [
    "name",
    "tasks",
    "connections",
    "inputs",
    "schedule",
    "window",
    "defaults",
    "params",
    "request",
    "paginate",
    "retry",
    "timeout",
    "expect",
    "output",
    "operation",
    "url",
]


def _mutate(document: Any, path: list[str], value: Any) -> Any:
    """Replace (or add) the value at ``path`` inside a copy of the example."""
    if not path or not isinstance(document, dict):
        return value
    head, rest = path[0], path[1:]
    copy = dict(document)
    copy[head] = _mutate(copy.get(head, {}), rest, value)
    return copy


def _load_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_workflow(path, catalogue=CATALOGUE)
    except TaskRunnerError:
        pass


def yaml_text(max_size: int) -> st.SearchStrategy[str]:
    """Any text, control characters included (they must give a located LoadError); no
    surrogates, so every example can be written as UTF-8."""
    chars = st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\t\n")
    return st.text(chars, max_size=max_size)


# (\x85, NEL, is a line break to YAML and loads fine; \ufffe is a non-character it refuses.)
@pytest.mark.parametrize("char", ["\x1f", "\x07", "\ufffe"])
def test_control_character_is_a_load_error(tmp_path: Path, char: str) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(EXAMPLE + char, encoding="utf-8")
    with pytest.raises(TaskRunnerError):
        load_workflow(path, catalogue=CATALOGUE)


@FUZZ
@given(text=yaml_text(300))
def test_arbitrary_text_loads_or_fails_cleanly(tmp_path: Path, text: str) -> None:
    _load_text(tmp_path, text)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(EXAMPLE)), junk=yaml_text(10))
def test_truncated_or_spliced_example_fails_cleanly(tmp_path: Path, cut: int, junk: str) -> None:
    _load_text(tmp_path, EXAMPLE[:cut] + junk + EXAMPLE[cut:])


@FUZZ
@given(
    path=st.lists(
        st.sampled_from([*KEYS, "list_images", "procore", "auth"]), min_size=1, max_size=4
    ),
    value=values,
)
def test_structurally_mutated_example_fails_cleanly(
    tmp_path: Path, path: list[str], value: Any
) -> None:
    document = yaml.safe_load(EXAMPLE)
    mutated = _mutate(document, path, value)
    try:
        text = yaml.safe_dump(mutated, allow_unicode=True)
    except yaml.YAMLError:
        return
    _load_text(tmp_path, text)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(REFERENCE)), junk=st.text(max_size=40))
def test_reference_parser_fails_cleanly_on_damaged_pages(cut: int, junk: str) -> None:
    try:
        parse_reference(REFERENCE[:cut] + junk + REFERENCE[cut + len(junk) :], "ref.txt", "procore")
    except TaskRunnerError:
        pass


@FUZZ
@given(text=st.text(max_size=400))
def test_reference_parser_fails_cleanly_on_any_text(text: str) -> None:
    try:
        parse_reference(text, "ref.txt", "procore")
    except TaskRunnerError:
        pass


template_parts = st.sampled_from(
    [
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "inputs",
        ".",
        "x",
        "|",
        "iso",
        "iso_range",
        "shift",
        "(",
        ")",
        "[",
        "]",
        "'",
        '"',
        "1",
        "0",
        "/",
        "*",
        "**",
        "~",
        "if",
        "else",
        "for",
        "in",
        "endfor",
        "now()",
        "run",
        "window_start",
        "default",
        "attr",
        "__class__",
        " ",
        "range",
        "999999999",
        "-",
        "tojson",
        "int",
        "float",
        "format",
        "%",
        "%s",
        "'a'*99999",
    ]
)


@FUZZ
@given(parts=st.lists(template_parts, max_size=14))
def test_template_rendering_fails_cleanly(parts: list[str]) -> None:
    source = "".join(parts)
    context = {
        "inputs": Namespace("inputs", {"x": 1, "s": "a"}),
        "run": Namespace("run", {"window_start": "2024-01-01T00:00:00Z"}),
    }
    try:
        TemplateEngine().render(source, context, path="t.params.x")
    except TaskRunnerError:
        pass
