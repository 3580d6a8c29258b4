"""``--input`` text read by the input's declared type (task_runner.workflow.inputs).

The headline: ``-i project_id=0777`` never becomes 511 (YAML 1.1 octal), a string input
``12:30`` stays ``"12:30"`` (not sexagesimal 750) and ``0123`` stays ``"0123"`` (not 83),
whether through ``parse_inputs`` + ``resolve_inputs``, the CLI, the scheduler, a Celery
submission or a recording re-read to stand in for an upstream task.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from task_runner.cli import main
from task_runner.cli.common import parse_inputs
from task_runner.errors import InputError, InputErrors, SourceLocation, UsageError
from task_runner.workflow import load_workflow, resolve_inputs
from task_runner.workflow.inputs import InputText, input_value
from task_runner.workflow.model import InputSpec, Workflow
from tests.httpserver import Reply, TestServer

INPUTS_YAML = """\
inputs:
  project_id: {type: integer}
  count: {type: integer, default: 1}
  ratio: {type: number, default: 1}
  at: {type: string, default: x}
  code: {type: string, default: x}
  flag: {type: boolean, default: false}
  ids: {type: array, items: {type: integer}, default: []}
  names: {type: array, items: {type: string}, default: []}
  extra: {type: object, default: {}}
"""


def _workflow_text(url: str = "http://127.0.0.1:9") -> str:
    return f"""\
name: typed
{INPUTS_YAML}\
tasks:
  first:
    request:
      method: POST
      url: {url}/first
      query: {{project_id: "{{{{ inputs.project_id }}}}", at: "{{{{ inputs.at }}}}", \
code: "{{{{ inputs.code }}}}"}}
      body:
        project_id: "{{{{ inputs.project_id }}}}"
        at: "{{{{ inputs.at }}}}"
        code: "{{{{ inputs.code }}}}"
        flag: "{{{{ inputs.flag }}}}"
        ids: "{{{{ inputs.ids }}}}"
        names: "{{{{ inputs.names }}}}"
  second:
    request:
      method: GET
      url: {url}/second
      query: {{seen: "{{{{ tasks.first.output.body.ok }}}}"}}
"""


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Workflow:
    path = tmp_path_factory.mktemp("typed") / "typed.yaml"
    path.write_text(_workflow_text())
    return load_workflow(path)


def _resolve(workflow: Workflow, *pairs: str) -> dict[str, Any]:
    return resolve_inputs(workflow, parse_inputs(["project_id=1", *pairs]))


def _refusal(workflow: Workflow, *pairs: str) -> str:
    with pytest.raises((InputError, InputErrors)) as caught:
        _resolve(workflow, *pairs)
    return caught.value.format()


# --- parse_inputs + resolve_inputs: accepted text -------------------------------------------

ACCEPTED = [
    ("integer-decimal", "project_id=777", "project_id", 777),
    ("integer-plus-sign", "project_id=+5", "project_id", 5),
    ("integer-negative", "count=-12", "count", -12),
    ("integer-zero", "count=0", "count", 0),
    ("integer-spaces-around", "count= 7 ", "count", 7),
    ("integer-big", "count=" + "9" * 40, "count", int("9" * 40)),
    ("number-integer-stays-int", "ratio=3", "ratio", 3),
    ("number-fraction", "ratio=1.5", "ratio", 1.5),
    ("number-leading-dot", "ratio=.5", "ratio", 0.5),
    ("number-exponent", "ratio=2e-3", "ratio", 0.002),
    ("number-zero-point", "ratio=0.25", "ratio", 0.25),
    ("string-leading-zero", "code=0123", "code", "0123"),
    ("string-octal-look", "code=0777", "code", "0777"),
    ("string-sexagesimal-look", "at=12:30", "at", "12:30"),
    ("string-yes", "code=yes", "code", "yes"),
    ("string-null", "code=null", "code", "null"),
    ("string-tilde", "code=~", "code", "~"),
    ("string-empty", "code=", "code", ""),
    ("string-spaces-kept", "code= a b ", "code", " a b "),
    ("string-date", "code=2024-01-01", "code", "2024-01-01"),
    ("string-quotes-kept", "code='x'", "code", "'x'"),
    ("string-number-text", "code=1e3", "code", "1e3"),
    ("boolean-true", "flag=true", "flag", True),
    ("boolean-false", "flag=false", "flag", False),
    ("boolean-any-case", "flag=TRUE", "flag", True),
    ("array-flow", "ids=[1, 2]", "ids", [1, 2]),
    ("array-json", "ids=[3,4]", "ids", [3, 4]),
    ("array-one-item", "ids=5", "ids", [5]),
    ("array-empty", "ids=[]", "ids", []),
    (
        "array-strings-as-typed",
        "names=[0123, 12:30, yes, 'q']",
        "names",
        ["0123", "12:30", "yes", "q"],
    ),
    ("array-one-string", "names=0123", "names", ["0123"]),
    ("object-flow", "extra={a: 1, b: x}", "extra", {"a": 1, "b": "x"}),
    ("object-json", 'extra={"a": [1, true]}', "extra", {"a": [1, True]}),
    (
        "object-untyped-values-1.2",
        "extra={a: 0777, b: 12:30, c: yes}",
        "extra",
        {"a": "0777", "b": "12:30", "c": "yes"},
    ),
]


@pytest.mark.parametrize(
    ("pair", "name", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_text_is_read_by_the_declared_type(
    pair: str, name: str, expected: Any, workflow: Workflow
) -> None:
    value = _resolve(workflow, pair)[name]
    assert value == expected
    assert type(value) is type(expected)
    assert not isinstance(value, InputText)  # the marker never leaks past resolve_inputs


def test_headline_project_id_0777_is_never_511(workflow: Workflow) -> None:
    message = _refusal(workflow, "project_id=0777")
    assert message.endswith(
        "--input project_id=0777: an integer input takes decimal digits; a leading zero is "
        "refused so it is never read as octal (write 777)"
    )
    assert "511" not in message


def test_headline_string_inputs_keep_sexagesimal_and_leading_zero_text(workflow: Workflow) -> None:
    values = _resolve(workflow, "at=12:30", "code=0123")
    assert (values["at"], values["code"]) == ("12:30", "0123")


# --- parse_inputs + resolve_inputs: refused text ----------------------------------------------

REFUSED = [
    ("integer-leading-zero", "project_id=0777", "a leading zero is refused", "write 777"),
    ("integer-negative-leading-zero", "count=-007", "a leading zero is refused", "write -7"),
    ("integer-hex", "count=0x1F", "0x1F is hexadecimal", "write 31"),
    ("integer-octal-1.2", "count=0o17", "0o17 is octal", "write 15"),
    ("integer-binary", "count=0b11", "0b11 is binary", "write 3"),
    ("integer-underscores", "count=1_000", "no _ between digits", "write 1000"),
    ("integer-point-zero", "count=7.0", "no decimal point or exponent", "write 7"),
    ("integer-exponent", "count=1e3", "no decimal point or exponent", "write 1000"),
    ("integer-fraction", "count=7.5", "7.5 is not a whole number", "such as 777"),
    ("integer-sexagesimal", "count=12:30", "takes decimal digits", "such as 777"),
    ("integer-word", "count=abc", "takes decimal digits", "such as 777"),
    ("integer-empty", "count=", "--input count='': an integer input", "such as 777"),
    ("integer-null", "count=null", "takes decimal digits", "such as 777"),
    ("integer-unicode-digits", "count=٧", "takes decimal digits", "such as 777"),
    ("number-leading-zero", "ratio=0777", "a leading zero is refused", "write 777"),
    ("number-leading-zero-fraction", "ratio=007.5", "a leading zero is refused", "write 7.5"),
    ("number-inf", "ratio=.inf", "infinity and NaN are refused", "such as 1.5"),
    ("number-nan", "ratio=nan", "infinity and NaN are refused", "such as 1.5"),
    ("number-overflow", "ratio=1e400", "beyond the largest number", "such as 1.5"),
    ("number-sexagesimal", "ratio=1:30", "takes a decimal number", "such as 1.5"),
    ("number-hex", "ratio=0x10", "0x10 is hexadecimal", "write 16"),
    ("boolean-yes", "flag=yes", "are not read as booleans", "write true"),
    ("boolean-no", "flag=no", "are not read as booleans", "write false"),
    ("boolean-on", "flag=on", "are not read as booleans", "write true"),
    ("boolean-off", "flag=off", "are not read as booleans", "write false"),
    ("boolean-one", "flag=1", "are not read as booleans", "write true"),
    ("boolean-zero", "flag=0", "are not read as booleans", "write false"),
    ("boolean-word", "flag=maybe", "takes true or false", "write true or false"),
    ("array-item-octal", "ids=[1, 0777]", "ids[1] is 0777: an integer takes", "write 777"),
    ("array-one-item-octal", "ids=010", "ids[0] is 010", "write 10"),
    ("array-unclosed", "ids=[1, 2", "it cannot be read", "write [1, 2]"),
    ("array-alias", "ids=[&a 1, *a]", "anchors and aliases are not read", "write [1, 2]"),
    ("array-tag", "ids=[!!int 1]", "tags (!!str, !!int, ...) are not read", "write [1, 2]"),
    ("object-not-a-mapping", "extra=a", "an object input takes a mapping", "{key: value}"),
    ("object-duplicate-key", "extra={a: 1, a: 2}", "the key 'a' is there twice", "{key: value}"),
]


@pytest.mark.parametrize(
    ("pair", "reason", "hint"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_text_the_type_cannot_read_is_refused_with_what_to_write(
    pair: str, reason: str, hint: str, workflow: Workflow
) -> None:
    message = _refusal(workflow, pair)
    name = pair.partition("=")[0]
    assert f"inputs.{name}: --input {name}=" in message
    assert reason in message
    assert message.endswith(f"{hint})")


def test_a_refusal_points_at_the_input_declaration(workflow: Workflow) -> None:
    with pytest.raises(UsageError) as caught:
        _resolve(workflow, "flag=yes")
    error = caught.value
    assert error.location is not None and error.location.line == 8
    assert (error.path, error.exit_code) == ("inputs.flag", 2)


def test_every_input_mistake_is_reported_at_once(workflow: Workflow) -> None:
    with pytest.raises(InputErrors) as caught:
        resolve_inputs(
            workflow,
            parse_inputs(["project_id=0777", "flag=yes", "ids=[0x1, 02]", "nope=1"]),
        )
    messages = [e.format() for e in caught.value.errors]
    assert len(messages) == 5, messages
    for part in ("project_id=0777", "flag=yes", "ids[0] is 0x1", "ids[1] is 02", "no input 'nope'"):
        assert sum(part in m for m in messages) == 1, (part, messages)


def test_a_quoted_item_of_a_typed_list_is_text_for_the_schema_to_refuse(workflow: Workflow) -> None:
    message = _refusal(workflow, "ids=[1, '2']")
    assert "input ids: '2' is not of type 'integer'" in message


def test_python_values_are_coerced_as_before(workflow: Workflow) -> None:
    values = resolve_inputs(workflow, {"project_id": 777, "code": 123, "ids": "5", "flag": "true"})
    assert (values["project_id"], values["code"], values["ids"], values["flag"]) == (
        777,
        "123",
        [5],
        True,
    )


# --- several types, or none: YAML 1.2 core, ambiguous forms kept as text ---------------------

UNTYPED = [
    ("int", "777", 777),
    ("negative", "-5", -5),
    ("float", "1.5", 1.5),
    ("true", "true", True),
    ("false-any-case", "False", False),
    ("null", "null", None),
    ("tilde", "~", None),
    ("Null-is-text", "Null", "Null"),
    ("empty-is-text", "", ""),
    ("octal-1.1-is-text", "0777", "0777"),
    ("octal-1.2-is-text", "0o17", "0o17"),
    ("hex-is-text", "0x1F", "0x1F"),
    ("underscores-are-text", "1_000", "1_000"),
    ("sexagesimal-is-text", "12:30", "12:30"),
    ("yes-is-text", "yes", "yes"),
    ("inf-is-text", ".inf", ".inf"),
    ("date-is-text", "2024-01-01", "2024-01-01"),
    ("timestamp-is-text", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    ("comment-is-text", "# note", "# note"),
    ("unclosed-quote-is-text", "'open", "'open"),
    ("unclosed-list-is-text", "[1, 2", "[1, 2"),
    ("equals-is-text", "a=b", "a=b"),
    ("list", "[1, 0777, 12:30, 'x', null]", [1, "0777", "12:30", "x", None]),
    ("mapping", "{a: 1, b: [true]}", {"a": 1, "b": [True]}),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in UNTYPED], ids=[c[0] for c in UNTYPED]
)
def test_an_untyped_input_reads_yaml_1_2_core_and_keeps_ambiguous_text(
    text: str, expected: Any
) -> None:
    value = input_value("x", InputText(text), {})
    assert value == expected
    assert type(value) is type(expected)


UNION = [
    ("integer-or-string-decimal", ["integer", "string"], "777", 777),
    ("integer-or-string-octal-look", ["integer", "string"], "0777", "0777"),
    ("integer-or-string-sexagesimal", ["integer", "string"], "12:30", "12:30"),
    ("boolean-or-string-yes", ["boolean", "string"], "yes", "yes"),
    ("null-or-integer-null", ["null", "integer"], "null", None),
    ("number-or-boolean", ["number", "boolean"], "2.5", 2.5),
]


@pytest.mark.parametrize(
    ("kinds", "text", "expected"), [c[1:] for c in UNION], ids=[c[0] for c in UNION]
)
def test_a_union_takes_the_first_type_that_reads_the_text(
    kinds: list[str], text: str, expected: Any
) -> None:
    value = input_value("x", InputText(text), {"type": kinds})
    assert value == expected
    assert type(value) is type(expected)


def test_a_union_that_reads_nothing_names_its_types() -> None:
    with pytest.raises(UsageError, match=r"--input x=0777: a boolean or an integer input takes"):
        input_value("x", InputText("0777"), {"type": ["integer", "boolean"]})


def test_resolve_inputs_reads_a_union_input_by_its_types(workflow: Workflow) -> None:
    spec = InputSpec("u", {"type": ["integer", "string"]}, SourceLocation("wf.yaml", 3, 3))
    workflow = dataclasses.replace(workflow, inputs={"u": spec})
    assert resolve_inputs(workflow, parse_inputs(["u=0777"])) == {"u": "0777"}
    assert resolve_inputs(workflow, parse_inputs(["u=0778"])) == {"u": "0778"}
    assert resolve_inputs(workflow, parse_inputs(["u=778"])) == {"u": 778}


# --- properties -------------------------------------------------------------------------------

NO_NUL = st.text(alphabet=st.characters(blacklist_characters="\x00"))


@settings(max_examples=300, deadline=None)
@given(text=NO_NUL)
def test_any_text_for_a_string_input_round_trips_exactly(text: str, workflow: Workflow) -> None:
    value = resolve_inputs(workflow, parse_inputs(["project_id=1", f"code={text}"]))["code"]
    assert value == text
    assert type(value) is str


@settings(max_examples=300, deadline=None)
@given(NO_NUL)
def test_an_integer_input_only_ever_takes_the_decimal_reading(text: str) -> None:
    try:
        value = input_value("n", InputText(text), {"type": "integer"})
    except UsageError as exc:
        assert exc.message.startswith("--input n=")
        return
    stripped = text.strip(" \t\n\r\f\v")
    assert re.fullmatch(r"[-+]?(0|[1-9][0-9]*)", stripped), text
    assert value == int(stripped, 10)


@settings(max_examples=200, deadline=None)
@given(st.integers())
def test_every_integer_written_in_decimal_reads_back(number: int) -> None:
    assert input_value("n", InputText(str(number)), {"type": "integer"}) == number


# --- end to end: the CLI, the scheduler, Celery submit, recordings -----------------------------


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(lambda req: Reply(200, {"ok": "yes"})) as srv:
        yield srv


@pytest.fixture
def wf_path(tmp_path: Path, server: TestServer) -> Path:
    path = tmp_path / "typed.yaml"
    path.write_text(_workflow_text(server.url))
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


HEADLINE = ["-i", "project_id=777", "-i", "at=12:30", "-i", "code=0123", "-i", "names=[007]"]


def test_dry_run_shows_the_typed_values(
    wf_path: Path, server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["test-request", str(wf_path), "--task", "first", "--dry-run", "--output", "json"]
    code, out, err = _cli(capsys, *argv, *HEADLINE, "-i", "flag=true", "-i", "ids=[1, 2]")
    assert code == 0, err
    request = json.loads(out)["request"]
    assert request["body"] == {
        "project_id": 777,
        "at": "12:30",
        "code": "0123",
        "flag": True,
        "ids": [1, 2],
        "names": ["007"],
    }
    assert request["url"].endswith("/first?project_id=777&at=12%3A30&code=0123")
    assert server.requests == []


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["test-request", "--task", "first", "--record-dir", "{tmp}"],
        ["test-request", "--task", "first", "--dry-run"],
        ["validate"],
        ["submit"],
    ],
    ids=["run", "test-request", "dry-run", "validate", "submit"],
)
def test_every_command_refuses_0777_for_an_integer_and_sends_nothing(
    command: list[str],
    wf_path: Path,
    tmp_path: Path,
    server: TestServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[Any] = []
    _capture_celery(monkeypatch, sent)
    rest = [arg.format(tmp=tmp_path / "rec") for arg in command[1:]]
    argv = [command[0], str(wf_path), *rest, "-i", "project_id=0777", "-i", "flag=yes"]
    code, out, err = _cli(capsys, *argv)
    assert code == 2
    assert "--input project_id=0777: an integer input takes decimal digits" in out + err
    assert "(write 777)" in out + err
    assert "--input flag=yes: a boolean input takes true or false" in out + err
    assert server.requests == [] and sent == []
    assert not (tmp_path / "rec").exists()


def test_run_sends_777_and_the_string_text_as_typed(
    wf_path: Path, server: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, "run", str(wf_path), "--output", "json", *HEADLINE)
    assert code == 0, out + err
    first = server.requests_to("/first")[0]
    assert (first.param("project_id"), first.param("at"), first.param("code")) == (
        "777",
        "12:30",
        "0123",
    )
    body = json.loads(first.body)
    assert (body["project_id"], body["at"], body["code"], body["names"]) == (
        777,
        "12:30",
        "0123",
        ["007"],
    )


def test_a_recording_re_read_for_the_same_inputs_keeps_their_types(
    wf_path: Path,
    tmp_path: Path,
    server: TestServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = ["--record-dir", str(tmp_path / "rec")]
    code, _, err = _cli(
        capsys, "test-request", str(wf_path), "--task", "first", "--yes", *store, *HEADLINE
    )
    assert code == 0, err
    [recording] = (tmp_path / "rec").rglob("*.json")
    inputs = json.loads(recording.read_text())["inputs"]
    assert (inputs["project_id"], inputs["at"], inputs["code"]) == (777, "12:30", "0123")
    code, _, err = _cli(
        capsys, "test-request", str(wf_path), "--task", "second", "--yes", *store, *HEADLINE
    )
    assert code == 0, err
    assert "first: output taken from its recording" in err
    assert len(server.requests_to("/first")) == 1  # the recording stood in for it


def _capture_celery(monkeypatch: pytest.MonkeyPatch, sent: list[Any]) -> None:
    from task_runner.celery_app import run_workflow

    def apply_async(*, kwargs: dict[str, Any], task_id: str, queue: str) -> None:
        sent.append(json.loads(json.dumps(kwargs)))  # what the broker would carry

    monkeypatch.setattr(run_workflow, "apply_async", apply_async)


def test_submit_sends_the_worker_typed_values(
    wf_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Any] = []
    _capture_celery(monkeypatch, sent)
    code, _, err = _cli(capsys, "submit", str(wf_path), *HEADLINE, "-i", "flag=false")
    assert code == 0, err
    [message] = sent
    assert message["inputs"] == {
        "project_id": 777,
        "at": "12:30",
        "code": "0123",
        "names": ["007"],
        "flag": False,
    }


def test_dispatch_reads_command_line_text_before_it_becomes_a_plain_string(
    wf_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from task_runner.distributed.dispatch import submit

    sent: list[Any] = []
    _capture_celery(monkeypatch, sent)
    submit(wf_path, parse_inputs(["project_id=777", "code=0123", "flag=true"]))
    assert sent[0]["inputs"] == {"project_id": 777, "code": "0123", "flag": True}
    with pytest.raises(UsageError, match="write 777"):
        submit(wf_path, parse_inputs(["project_id=0777"]))
    assert len(sent) == 1


def test_the_scheduler_reads_its_inputs_by_each_workflow_type(
    tmp_path: Path, wf_path: Path
) -> None:
    from task_runner.scheduling import SchedulerConfig, WorkflowScheduler

    text = wf_path.read_text().replace("name: typed\n", "name: typed\nschedule: {every: 1h}\n")
    wf_path.write_text(text)
    scheduler = WorkflowScheduler(
        SchedulerConfig(
            paths=[str(wf_path)],
            inputs=parse_inputs(["project_id=777", "code=0123", "at=12:30"]),
            state_dir=str(tmp_path / "state"),
        ),
        enqueue=lambda path, inputs, at, name: "not used",
    )
    scheduler.reload()
    [entry] = scheduler.entries.values()
    assert (entry.inputs["project_id"], entry.inputs["code"], entry.inputs["at"]) == (
        777,
        "0123",
        "12:30",
    )
    assert not any(isinstance(v, InputText) for v in entry.inputs.values())
