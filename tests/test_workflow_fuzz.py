"""Fuzzing: the loader and the renderer answer anything with a value or a located error."""

from __future__ import annotations

import copy
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from task_runner.catalogue import Catalogue
from task_runner.errors import InputError, InputErrors, TemplateError
from task_runner.workflow import load_workflow
from task_runner.workflow.model import Workflow
from task_runner.workflow.templating import Namespace, PlaceholderSecrets, TemplateEngine

CATALOGUE = Catalogue.load()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID: dict[str, Any] = {
    "name": "t",
    "inputs": {"company_id": {"type": "integer", "default": 1}},
    "connections": {"procore": {"api": "procore", "base_url": "https://api.example.com"}},
    "tasks": {
        "list_images": {
            "operation": "procore.images.list",
            "connection": "procore",
            "params": {
                "Procore-Company-Id": "{{ inputs.company_id }}",
                "project_id": 777,
                "sort": "-created_at",
            },
            "paginate": "all",
            "retry": {"max_attempts": 3, "initial_interval": "1s"},
            "timeout": {"connect": "5s", "read": "30s"},
        }
    },
    "schedule": {"cron": "0 6 * * *", "timezone": "UTC"},
}

KEYS = st.sampled_from(
    [
        "name", "tasks", "inputs", "connections", "schedule", "window", "defaults", "operation",
        "connection", "params", "request", "paginate", "retry", "timeout", "expect", "output",
        "depends_on", "url", "method", "type", "default", "cron", "every", "timezone", "auth",
        "base_url", "jsonl", "status", "max_attempts", "pages", "x",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=15),
    st.sampled_from(["{{ inputs.company_id }}", "{{ x.__class__ }}", "{{", "1s", "all", "GET"]),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=25,
)


def _load_text(text: str, *, skip_known: bool = True) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wf.yaml"
        path.write_text(text, encoding="utf-8")
        _load_path(path, skip_known=skip_known)


# Crashes already reported (each has a strict xfail test below). The broad fuzzing skips an
# example that hits one of them, so that it keeps looking for new ones. Empty this when
# the bugs are fixed.
KNOWN_CRASHES: set[tuple[str, str]] = set()


def _known_crash(exc: BaseException) -> bool:
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return (Path(frame.filename).name, frame.name) in KNOWN_CRASHES


def _load_path(path: Path, *, skip_known: bool) -> None:
    try:
        workflow = load_workflow(path, catalogue=CATALOGUE)
    except (TypeError, AttributeError) as exc:
        if skip_known:
            assume(not _known_crash(exc))
        raise
    except InputErrors as exc:
        assert exc.errors
        for error in exc.errors:
            _assert_located(error, path)
    except InputError as exc:
        _assert_located(exc, path)
    else:
        assert isinstance(workflow, Workflow)


def _assert_located(error: InputError, path: Path) -> None:
    assert error.location is not None, error
    assert error.location.file == str(path)
    assert error.message
    error.format()
    error.to_dict()


YAML_TEXT = st.text(
    alphabet=st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from("\n\t\r")),
    max_size=300,
)


@FUZZ
@given(YAML_TEXT)
def test_arbitrary_text(text: str) -> None:
    _load_text(text)


@pytest.mark.parametrize("text", ["name: t\x1f\n", "a: \ufffe\n", "\x07"])
def test_a_control_character_is_a_located_load_error(text: str) -> None:
    _load_text(text, skip_known=False)


@FUZZ
@given(st.text(alphabet="abc:-[]{}&*!|>'\"#%@`,? \n\t0123456789", max_size=200))
def test_yaml_punctuation(text: str) -> None:
    _load_text(text)


@FUZZ
@given(TREES)
def test_arbitrary_yaml_structures(tree: Any) -> None:
    _load_text(yaml.safe_dump(tree))


def _mutate(data: Any, path: list[Any], value: Any) -> Any:
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return data
    if isinstance(node, dict):
        node[path[-1]] = value
    return data


PATHS = st.sampled_from(
    [
        ["name"],
        ["inputs"],
        ["inputs", "company_id"],
        ["inputs", "company_id", "type"],
        ["inputs", "company_id", "default"],
        ["connections"],
        ["connections", "procore"],
        ["connections", "procore", "base_url"],
        ["connections", "procore", "auth"],
        ["tasks"],
        ["tasks", "list_images"],
        ["tasks", "list_images", "operation"],
        ["tasks", "list_images", "connection"],
        ["tasks", "list_images", "params"],
        ["tasks", "list_images", "params", "project_id"],
        ["tasks", "list_images", "params", "sort"],
        ["tasks", "list_images", "paginate"],
        ["tasks", "list_images", "retry"],
        ["tasks", "list_images", "retry", "max_attempts"],
        ["tasks", "list_images", "timeout"],
        ["tasks", "list_images", "depends_on"],
        ["tasks", "list_images", "request"],
        ["tasks", "list_images", "expect"],
        ["tasks", "list_images", "output"],
        ["schedule"],
        ["schedule", "cron"],
        ["schedule", "every"],
        ["window"],
        ["defaults"],
    ]
)


@FUZZ
@given(st.lists(st.tuples(PATHS, TREES), min_size=1, max_size=3))
def test_mutated_valid_workflow(mutations: list[tuple[list[Any], Any]]) -> None:
    data: Any = VALID
    for path, value in mutations:
        data = _mutate(data, path, value)
    _load_text(yaml.safe_dump(data, sort_keys=False))


CRASHERS = [
    pytest.param(["tasks", "list_images", "connection"], ["procore"], id="connection-list"),
    pytest.param(["tasks", "list_images", "connection"], {"a": 1}, id="connection-mapping"),
    pytest.param(["tasks", "list_images", "operation"], ["procore.images.list"], id="op-list"),
    pytest.param(["tasks", "list_images", "operation"], 1, id="operation-int"),
    pytest.param(["inputs"], 1, id="inputs-int"),
]


@pytest.mark.parametrize(("path", "value"), CRASHERS)
def test_a_wrongly_typed_section_is_a_located_error(path: list[Any], value: Any) -> None:
    _load_text(yaml.safe_dump(_mutate(VALID, path, value)), skip_known=False)


@pytest.mark.parametrize("cron", [[], {"a": 1}, ["0 6 * * *"]])
def test_a_cron_that_is_not_text(cron: Any) -> None:
    _load_text(yaml.safe_dump(_mutate(VALID, ["schedule", "cron"], cron)), skip_known=False)


def test_the_unmutated_workflow_loads() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wf.yaml"
        path.write_text(yaml.safe_dump(VALID))
        assert load_workflow(path, catalogue=CATALOGUE).order() == ["list_images"]


# --- the renderer ---------------------------------------------------------------------------

ENGINE = TemplateEngine()
CONTEXT = {
    "inputs": Namespace("inputs", {"n": 777, "ids": [1, 2], "s": "text", "d": {"k": "v"}}),
    "env": Namespace("env", {"HOME": "/root"}),
    "secrets": PlaceholderSecrets({}),
    "tasks": Namespace("tasks", {}),
    "run": Namespace("run", {"id": "r1"}),
}
TEMPLATE_PIECES = st.sampled_from(
    [
        "{{", "}}", "{%", "%}", "{#", "#}", " ", "inputs", ".", "n", "ids", "s", "d", "k", "[0]",
        "[", "]", "(", ")", "|", "iso", "shift", "iso_range", "default", "'x'", "1", "+", "-",
        "*", "/", "~", "__class__", "_x", "attr", "for", "in", "if", "endfor", "endif", "set",
        "=", "x", "secrets", "env", "tasks", "run", "HOME", "now()", "range", "none", ",",
        "'2024-05-01'", "'1d'", "join", "items", "dictsort", "list", "length", "%",
    ]
)  # fmt: skip


@FUZZ
@given(st.text(max_size=80))
def test_render_arbitrary_text(source: str) -> None:
    _render(source)


@FUZZ
@given(st.lists(TEMPLATE_PIECES, max_size=25).map("".join))
def test_render_template_like_text(source: str) -> None:
    _render(source)


@FUZZ
@given(st.lists(TEMPLATE_PIECES, max_size=20).map(lambda p: "{{ " + " ".join(p) + " }}"))
def test_render_expressions(source: str) -> None:
    _render(source)


def _render(source: str) -> None:
    try:
        ENGINE.render(source, CONTEXT)
    except TemplateError as exc:
        assert exc.message
        assert "Traceback" not in exc.message
