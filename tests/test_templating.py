"""Templates: native types, strict undefined, secrets, date filters, cache, sandbox."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

from task_runner.errors import TemplateError
from task_runner.redact import REDACTOR
from task_runner.workflow.templating import (
    Namespace,
    PlaceholderSecrets,
    SecretsNamespace,
    TemplateEngine,
    filter_iso,
    filter_iso_date,
    filter_iso_range,
    filter_shift,
    is_template,
    read_dotenv,
)


def context(secrets: Any = None, **inputs: Any) -> dict[str, Any]:
    tasks = Namespace(
        "tasks",
        {
            "find": Namespace(
                "tasks.find",
                {"output": Namespace("tasks.find.output", {"items": [1, 2], "status": 200})},
            )
        },
    )
    return {
        "inputs": Namespace("inputs", {"n": 777, "ids": [31, 32], "s": "x", **inputs}),
        "env": Namespace("env", {"HOST": "api.example.com"}),
        "secrets": secrets if secrets is not None else SecretsNamespace({}, dotenv=None),
        "tasks": tasks,
        "run": Namespace("run", {"window_start": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)}),
    }


@pytest.fixture
def engine() -> TemplateEngine:
    return TemplateEngine()


# --- native types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ inputs.n }}", 777),
        ("  {{ inputs.n }}  ", 777),
        ("{{ inputs.ids }}", [31, 32]),
        ("{{ inputs.n + 1 }}", 778),
        ("{{ true }}", True),
        ("{{ none }}", None),
        ("{{ '777' }}", "777"),
        ("{{ {'a': 1} }}", {"a": 1}),
    ],
)
def test_a_single_expression_keeps_its_native_type(
    engine: TemplateEngine, source: str, expected: Any
) -> None:
    value = engine.render(source, context())
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ inputs.n }}x", "777x"),
        ("id-{{ inputs.n }}", "id-777"),
        ("{{ inputs.n }}{{ inputs.n }}", "777777"),
        ("{{ inputs.n }} and {{ inputs.s }}", "777 and x"),
        ("{% for i in inputs.ids %}{{ i }},{% endfor %}", "31,32,"),
        ("{# a comment #}", ""),
        ("{{ '}}' }}", "}}"),
    ],
)
def test_anything_else_renders_to_a_string(
    engine: TemplateEngine, source: str, expected: str
) -> None:
    assert engine.render(source, context()) == expected


def test_is_template() -> None:
    assert is_template("{{ x }}") and is_template("{% if 1 %}{% endif %}") and is_template("{#c#}")
    assert not is_template("plain") and not is_template(777) and not is_template(None)


def test_render_value_walks_mappings_and_lists(engine: TemplateEngine) -> None:
    value = {"a": ["{{ inputs.n }}", "x"], "b": {"c": "{{ inputs.s }}-1"}, "d": 5}
    assert engine.render_value(value, context()) == {"a": [777, "x"], "b": {"c": "x-1"}, "d": 5}


# --- strict undefined ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ inputs.missing }}", "inputs.missing is undefined: declare it under `inputs:`"),
        ("{{ env.NOPE }}", "env.NOPE is undefined: set the environment variable NOPE"),
        ("{{ tasks.other.output }}", "tasks.other is undefined"),
        ("{{ tasks.find.output.nope }}", "tasks.find.output.nope is undefined"),
        ("{{ run.nope }}", "run.nope is undefined: run variables are: id, workflow"),
        ("x{{ inputs.missing }}", "inputs.missing is undefined"),
    ],
)
def test_undefined_names_fail_with_a_message(
    engine: TemplateEngine, source: str, message: str
) -> None:
    with pytest.raises(TemplateError) as info:
        engine.render(source, context(), path="t.params.x")
    assert message in info.value.message
    assert f"(in template {source!r})" in info.value.message
    assert info.value.path == "t.params.x"


def test_a_missing_secret_names_the_variable(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError) as info:
        engine.render("{{ secrets.NOT_SET_ANYWHERE }}", context())
    assert "NOT_SET_ANYWHERE" in info.value.message


def test_default_filter_covers_an_undefined_env(engine: TemplateEngine) -> None:
    assert engine.render("{{ env.NOPE | default('https://x') }}", context()) == "https://x"


def test_an_index_out_of_range_says_what_is_missing(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError) as info:
        engine.render("{{ inputs.ids[5] }}", context())
    assert not info.value.message.startswith("None")


# --- secrets -------------------------------------------------------------------------------


def test_secrets_come_from_the_environment_and_are_registered() -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    assert canary not in REDACTOR
    engine = TemplateEngine()
    value = engine.render("{{ secrets.TOKEN }}", context(SecretsNamespace({"TOKEN": canary})))
    assert value == canary
    assert canary in REDACTOR
    assert REDACTOR.redact(f"Bearer {canary}") == "Bearer ***"


def test_secrets_fall_back_to_a_dotenv_file(tmp_path: Path) -> None:
    canary = f"dotenv-{uuid.uuid4().hex}"
    env_file = tmp_path / ".env"
    env_file.write_text(f"# comment\nexport TOKEN='{canary}'\nOTHER=1\nnot a line\n")
    secrets = SecretsNamespace({}, dotenv=env_file)
    assert secrets["TOKEN"] == canary
    assert canary in REDACTOR
    assert read_dotenv(env_file) == {"TOKEN": canary, "OTHER": "1"}


def test_secrets_are_never_enumerated() -> None:
    secrets = SecretsNamespace({"TOKEN": "abcdefgh"}, dotenv=None)
    assert list(secrets) == [] and len(secrets) == 0
    assert "abcdefgh" not in repr(secrets)


def test_placeholder_secrets_mask_what_is_not_set() -> None:
    assert PlaceholderSecrets({})["NOPE"] == "***"
    assert PlaceholderSecrets({"SET": "value-1234"})["SET"] == "value-1234"


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01", "2024-05-01"),
        ("2024-05-01T06:00:00+02:00", "2024-05-01T04:00:00Z"),
        ("2024-05-01T06:00:00.123Z", "2024-05-01T06:00:00Z"),
        (dt.datetime(2024, 5, 1, 6, 0, 0, 5), "2024-05-01T06:00:00Z"),
        (dt.date(2024, 5, 1), "2024-05-01"),
    ],
)
def test_iso(value: Any, expected: str) -> None:
    assert filter_iso(value) == expected


def test_iso_date_uses_the_utc_day() -> None:
    assert filter_iso_date("2024-05-01T23:30:00-02:00") == "2024-05-02"
    assert filter_iso_date(dt.date(2024, 5, 1)) == "2024-05-01"


def test_iso_range() -> None:
    assert (
        filter_iso_range("2024-05-01T00:00:00Z", "2024-05-02T00:00:00+01:00")
        == "2024-05-01T00:00:00Z...2024-05-01T23:00:00Z"
    )
    assert filter_iso_range("2024-05-01", "2024-05-02") == "2024-05-01...2024-05-02"


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("-1d", "2024-04-30T06:00:00Z"),
        ("+2h", "2024-05-01T08:00:00Z"),
        (90, "2024-05-01T06:01:30Z"),
    ],
)
def test_shift(duration: Any, expected: str) -> None:
    assert filter_iso(filter_shift("2024-05-01T06:00:00Z", duration)) == expected


def test_filters_in_templates(engine: TemplateEngine) -> None:
    rendered = engine.render(
        "{{ run.window_start | shift('-1d') | iso_range(run.window_start) }}", context()
    )
    assert rendered == "2024-04-30T00:00:00Z...2024-05-01T00:00:00Z"


@pytest.mark.parametrize(
    "source",
    ["{{ 'x' | iso }}", "{{ 5 | shift('1d') }}", "{{ '2024-05-01' | shift('bogus') }}"],
)
def test_a_filter_failing_is_a_template_error(engine: TemplateEngine, source: str) -> None:
    with pytest.raises(TemplateError, match="template failed"):
        engine.render(source, context())


# --- compile once ---------------------------------------------------------------------------


def test_templates_are_compiled_once(engine: TemplateEngine) -> None:
    first = engine.compile("{{ inputs.n }}")
    assert engine.compile("{{ inputs.n }}") is first
    assert first.native
    text = engine.compile("a{{ inputs.n }}")
    assert engine.compile("a{{ inputs.n }}") is text
    assert not text.native


def test_rendering_reuses_the_compiled_template(
    engine: TemplateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.render("{{ inputs.n }}", context())
    calls: list[str] = []
    original = engine.env.compile_expression
    monkeypatch.setattr(
        engine.env, "compile_expression", lambda *a, **k: calls.append("c") or original(*a, **k)
    )
    for _ in range(3):
        assert engine.render("{{ inputs.n }}", context()) == 777
    assert calls == []


# --- mapping keys before methods ------------------------------------------------------------


def test_a_mapping_key_wins_over_a_dict_method(engine: TemplateEngine) -> None:
    assert engine.render("{{ tasks.find.output.items }}", context()) == [1, 2]
    assert engine.render("{{ tasks.find.output['items'] }}", context()) == [1, 2]


def test_dict_methods_are_not_reachable_as_attributes(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateError, match=r"tasks\.find\.output\.keys is undefined"):
        engine.render("{{ tasks.find.output.keys }}", context())


def test_mappings_iterate_through_filters(engine: TemplateEngine) -> None:
    rendered = engine.render(
        "{% for k, v in tasks.find.output | dictsort %}{{ k }}={{ v }};{% endfor %}", context()
    )
    assert rendered == "items=[1, 2];status=200;"


# --- sandbox --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ inputs.n.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ inputs.s | attr('__class__') }}",
        "{{ range(10**9) | list }}",
        "x{{ ''.__class__.__mro__[1].__subclasses__() }}",
    ],
)
def test_the_sandbox_refuses_python_internals(engine: TemplateEngine, source: str) -> None:
    with pytest.raises(TemplateError) as info:
        engine.render(source, context())
    assert "<class" not in info.value.message  # nothing of Python's internals is shown


def test_private_attributes_are_found_statically(engine: TemplateEngine) -> None:
    assert sorted(engine.private_attributes("{{ x.__globals__ }}{{ y['_z'] }}{{ a.b }}")) == [
        "__globals__",
        "_z",
    ]


def test_references_are_found_statically(engine: TemplateEngine) -> None:
    refs = engine.references(
        "{{ inputs.a }}{{ tasks.t.output.items }}{{ secrets['S'] }}{{ foo }}"
        "{% for i in inputs.b %}{{ i }}{% endfor %}{{ now() }}"
    )
    assert refs == {
        ("inputs", "a"),
        ("inputs", "b"),
        ("tasks", "t"),
        ("secrets", "S"),
        ("foo", None),
    }


def test_analyse_gives_references_and_private_attributes_from_one_parse(
    engine: TemplateEngine,
) -> None:
    source = "{{ inputs.a.__class__ }}{{ tasks.t.output['_x'] }}"
    assert engine.analyse(source) == (
        engine.references(source),
        engine.private_attributes(source),
    )
    assert engine.analyse(source)[0] == {("inputs", "a"), ("tasks", "t")}
    assert sorted(engine.analyse(source)[1]) == ["__class__", "_x"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ secrets.KEY | upper }}",
        "{{ secrets.KEY | lower }}",
        "{{ secrets.KEY | reverse }}",
        "{{ secrets.KEY | list | join(' ') }}",
        "{{ secrets.KEY | replace('-', '') }}",
        "prefix {{ secrets.KEY[4:] }} suffix",
        "{{ [secrets.KEY | upper, 'plain-and-long'] }}",
        "{{ secrets.KEY }}-{{ secrets.KEY | upper }}",
    ],
)
def test_what_a_template_makes_of_a_secret_is_masked(template: str) -> None:
    from task_runner.workflow.templating import SecretsNamespace, TemplateEngine

    secret = "Sec-ret-9d2f-Canary"
    with REDACTOR.scope("test") as scope:
        value = TemplateEngine().render(
            template, {"secrets": SecretsNamespace({"KEY": secret}, dotenv=None)}
        )
        shown = REDACTOR.redact(str(value))
        assert len(scope) > 0
    for form in (secret.upper(), secret.lower(), secret[::-1], " ".join(secret), secret[4:]):
        assert form not in shown
    assert "***" in shown


def test_a_template_that_reads_no_secret_registers_nothing() -> None:
    from task_runner.redact import REDACTOR
    from task_runner.workflow.templating import TemplateEngine

    with REDACTOR.scope("test") as scope:
        assert (
            TemplateEngine().render("{{ inputs.name | upper }}", {"inputs": {"name": "abcdefghij"}})
            == "ABCDEFGHIJ"
        )
        assert len(scope) == 0


def test_a_secret_used_as_it_is_keeps_the_text_around_it_readable() -> None:
    from task_runner.workflow.templating import SecretsNamespace, TemplateEngine

    secret = "Sec-ret-7e1a-Canary"
    with REDACTOR.scope("test"):
        value = TemplateEngine().render(
            "tag-{{ secrets.KEY }}", {"secrets": SecretsNamespace({"KEY": secret}, dotenv=None)}
        )
        assert REDACTOR.redact(value) == "tag-***"
