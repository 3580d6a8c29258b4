"""The language server's reading of a buffer, property-tested: the cursor context and
template detection on any text, and diagnostics equal to ``validate`` on any edit of the
example workflow (a deleted or inserted character anywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from task_runner.catalogue import Catalogue
from task_runner.lsp.analysis import analyse, diagnostics
from task_runner.lsp.document import YamlIndex, line_context, template_at
from task_runner.workflow.validate import validate_paths

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "examples" / "workflows" / "procore_images.yaml").read_text(encoding="utf-8")
YAMLISH = st.text(alphabet=st.sampled_from(list("ab_:- \"'{}|#.\n[]0😀")), max_size=80)


@given(text=YAMLISH, data=st.data())
def test_template_at_reads_the_open_expression_before_the_cursor(
    text: str, data: st.DataObject
) -> None:
    col = data.draw(st.integers(0, len(text)))
    found = template_at(text, col)
    before = text[:col]
    opened = max(before.rfind("{{"), before.rfind("{%"))
    if found is None:
        assert opened < 0 or max(before.rfind("}}", opened), before.rfind("%}", opened)) >= 0
    else:
        start, expression = found
        assert start == opened + 2 and expression == text[start:col]


@given(text=YAMLISH, data=st.data())
def test_line_context_prefix_is_the_text_before_the_cursor(text: str, data: st.DataObject) -> None:
    lines = text.split("\n")
    line = data.draw(st.integers(0, len(lines) - 1))
    col = data.draw(st.integers(0, len(lines[line])))
    ctx = line_context(lines, line, col)
    assert ctx.role in ("key", "value")
    assert lines[line][ctx.prefix_start : col] == ctx.prefix


@given(text=YAMLISH)
def test_every_span_lies_on_its_line(text: str) -> None:
    index = YamlIndex.of(text)
    for line, col in list(index.starts)[:20]:
        span = index.span_from(line, col)
        assert (span.start_line, span.start_col) == (line, col)
        assert span.end_line == line and span.end_col > col


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


EDIT = st.tuples(
    st.integers(0, len(EXAMPLE) - 1), st.sampled_from(["", "x", ":", " ", "{", "\n", "-"])
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edit=EDIT)
def test_diagnostics_equal_validate_after_any_one_character_edit(
    edit: tuple[int, str], catalogue: Catalogue, tmp_path: Path
) -> None:
    offset, char = edit
    text = EXAMPLE[:offset] + char + EXAMPLE[offset + 1 :]  # "" deletes, others replace
    path = tmp_path / "edited.yaml"
    path.write_text(text, encoding="utf-8")
    _, errors = validate_paths([path], catalogue=catalogue)
    snap = analyse(path, text, catalogue)
    found = diagnostics(snap)
    assert [(d.range.start.line + 1, d.range.start.character + 1, d.message) for d in found] == [
        (e.location.line or 1, e.location.column or 1, e.to_dict()["message"])
        for e in errors
        if e.location is not None
    ]
    lines = text.count("\n") + 1  # LSP counts the empty line after a final newline
    for d in found:
        assert d.range.end.line == d.range.start.line < lines
        assert d.range.end.character > d.range.start.character


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples" / "workflows").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_example_is_checked_as_validate_checks_it(
    example: Path, catalogue: Catalogue
) -> None:
    _, errors = validate_paths([example], catalogue=catalogue)
    snap = analyse(example, example.read_text(encoding="utf-8"), catalogue)
    assert [e.format() for e in snap.errors] == [e.format() for e in errors]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(["inputs", "emulator", "pages", "recordDir", "definitions", "debounceMs"])


@given(raw=st.dictionaries(KEYS, JSON) | JSON, nested=st.booleans())
def test_settings_of_any_shape_never_stop_the_server(raw: object, nested: bool) -> None:
    from task_runner.lsp.commands import Settings

    settings = Settings.from_json({"taskRunner": raw} if nested else raw)
    assert settings.pages >= 1 and settings.debounce_ms >= 0
    assert isinstance(settings.inputs, dict) and isinstance(settings.definitions, list)
    assert all(isinstance(arg, str) for arg in settings.cli_args())
