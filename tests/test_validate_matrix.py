"""`task-runner validate` on broken workflows: every mistake at its exact line, column and path.

Each case starts from one small valid workflow (:data:`BASE`), breaks it in one way and
checks the whole JSON report (exit code 2, a list of ``{file, line, column, path,
message}``) and the text form ``file:line:col: path: message``. No case may print a
traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from task_runner.cli import main

DEFINITIONS = Path(__file__).parent / "data" / "workflows" / "definitions"

# Line numbers below refer to this text; keep it in step with the cases.
BASE = """\
name: t
inputs:
  company_id: {type: integer}
  project_id: {type: integer, default: 777}
connections:
  procore:
    api: procore
    base_url: https://api.example.com
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      sort: -created_at
      per_page: 100
"""

TWO_TASKS_CYCLE = """\
  b:
    operation: procore.images.list
    connection: procore
    depends_on: [c]
    params: {Procore-Company-Id: 1, project_id: 1}
  c:
    operation: procore.images.list
    connection: procore
    depends_on: [b]
    params: {Procore-Company-Id: 1, project_id: 1}
"""

PATH_PARAM = """\
name: t
inputs:
  project: {type: string, default: "abc"}
connections:
  api:
    base_url: https://api.example.com
tasks:
  list:
    operation: testapi.projects.images.list
    connection: api
    params:
      project_id: "{{ inputs.project }}"
      Procore-Company-Id: 1
"""

RAW_HOST = """\
name: t
inputs:
  host: {type: string, default: evil.example}
tasks:
  raw:
    request:
      method: GET
      url: "https://{{ inputs.host }}/x"
"""


def replace(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


@dataclass(frozen=True)
class Expected:
    line: int
    column: int | None  # None: the column is not pinned (it depends on the YAML library)
    path: str | None
    message: str  # a substring of the reported message


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    errors: list[Expected]
    args: list[str] = field(default_factory=list)


CASES = [
    Case(
        "yaml-syntax-error",
        replace("per_page: 100", "per_page: [100"),
        [
            Expected(
                17, 17, None, "YAML syntax error: while parsing a flow sequence, but the file ended"
            )
        ],
    ),
    Case(
        "yaml-tab-indent",
        replace("      per_page: 100", "\tper_page: 100"),
        [Expected(17, None, None, "YAML syntax error")],
    ),
    Case(
        "two-documents",
        "name: a\n---\nname: b\n",
        [Expected(2, 1, None, "more than one YAML document")],
    ),
    Case(
        "not-a-mapping",
        "- a\n- b\n",
        [Expected(1, 1, None, "a workflow file must be a mapping")],
    ),
    Case(
        "duplicate-key",
        replace("      sort: -created_at", "      sort: -created_at\n      sort: created_at"),
        [Expected(17, 7, None, "duplicate key 'sort' (first defined at line 16)")],
    ),
    Case(
        "unknown-top-level-key",
        BASE + "bogus: 1\n",
        [Expected(18, 1, "bogus", "unknown key 'bogus' (allowed: name, description")],
    ),
    Case(
        "unknown-task-key",
        replace("    connection: procore\n", "    connection: procore\n    retries: 3\n"),
        [Expected(13, 5, "list_images.retries", "unknown key 'retries' (did you mean 'retry'?)")],
    ),
    Case(
        "wrong-literal-type",
        replace("per_page: 100", "per_page: many"),
        [Expected(17, 17, "list_images.params.per_page", "'many' is not an integer")],
    ),
    Case(
        "wrong-literal-boolean",
        replace("per_page: 100", "per_page: 100\n      filters[starred]: maybe"),
        [
            Expected(
                18, 25, "list_images.params.filters[starred]", "'maybe' is not a boolean (true or"
            )
        ],
    ),
    Case(
        "input-default-wrong-type",
        replace("default: 777", "default: abc"),
        [Expected(4, 40, "inputs.project_id.default", "'abc' is not of type 'integer'")],
    ),
    Case(
        "wrong-type-after-rendering-default",
        replace("{type: integer, default: 777}", "{type: string, default: abc}"),
        [
            Expected(
                15,
                19,
                "list_images.params.project_id",
                "'abc' is not an integer (from template '{{ inputs.project_id }}')",
            )
        ],
        args=["-i", "company_id=8089"],
    ),
    Case(
        "wrong-type-after-rendering-input",
        replace("{type: integer, default: 777}", "{type: string}"),
        [
            Expected(
                15,
                19,
                "list_images.params.project_id",
                "'abc' is not an integer (from template '{{ inputs.project_id }}')",
            )
        ],
        args=["-i", "company_id=8089", "-i", "project_id=abc"],
    ),
    Case(
        "input-fails-its-own-type",
        BASE,
        [
            Expected(
                4,
                3,
                "inputs.project_id",
                "--input project_id=abc: an integer input takes decimal digits",
            )
        ],
        args=["-i", "company_id=8089", "-i", "project_id=abc"],
    ),
    Case(
        "missing-required-parameter",
        replace('      project_id: "{{ inputs.project_id }}"\n', ""),
        [
            Expected(
                13,
                5,
                "list_images.params",
                "missing required parameter 'project_id' (query integer)",
            )
        ],
    ),
    Case(
        "unknown-parameter",
        replace("per_page: 100", "per_pag: 100"),
        [
            Expected(
                17,
                7,
                "list_images.params.per_pag",
                "unknown parameter 'per_pag' for procore.images.list (did you mean 'per_page'?)",
            )
        ],
    ),
    Case(
        "value-outside-enum",
        replace("sort: -created_at", "sort: newest"),
        [
            Expected(
                16,
                13,
                "list_images.params.sort",
                "'newest' is not one of the allowed values: 'deleted_at'",
            )
        ],
    ),
    Case(
        "bad-range-format",
        replace("per_page: 100", "per_page: 100\n      filters[created_at]: yesterday"),
        [
            Expected(
                18,
                28,
                "list_images.params.filters[created_at]",
                "'yesterday' is not a range like 2024-05-01...2024-05-02",
            )
        ],
    ),
    Case(
        "bad-log-date",
        replace("per_page: 100", "per_page: 100\n      filters[log_date]: 2024-13-45"),
        [
            Expected(
                18,
                26,
                "list_images.params.filters[log_date]",
                "'2024-13-45' is not a real date: month must be in 1..12",
            )
        ],
    ),
    Case(
        "undefined-variable",
        replace("per_page: 100", 'per_page: "{{ foo }}"'),
        [Expected(17, 17, "list_images.params.per_page", "'foo' is undefined")],
    ),
    Case(
        "undeclared-input",
        replace("per_page: 100", 'per_page: "{{ inputs.nope }}"'),
        [Expected(17, 17, "list_images.params.per_page", "inputs.nope is not declared")],
    ),
    Case(
        "unknown-run-variable",
        replace("per_page: 100", 'per_page: "{{ run.nope }}"'),
        [Expected(17, 17, "list_images.params.per_page", "run.nope is not a run variable")],
    ),
    Case(
        "template-syntax-error",
        replace("per_page: 100", 'per_page: "{{ inputs.project_id + }}"'),
        [Expected(17, 17, "list_images.params.per_page", "template syntax error")],
    ),
    Case(
        "unknown-operation",
        replace("operation: procore.images.list", "operation: procore.image.list"),
        [
            Expected(
                11,
                16,
                "list_images.operation",
                "unknown operation 'procore.image.list' (did you mean 'procore.images.list'?)",
            )
        ],
    ),
    Case(
        "unknown-connection",
        replace("connection: procore\n", "connection: procor\n"),
        [
            Expected(
                12,
                17,
                "list_images.connection",
                "unknown connection 'procor' (did you mean 'procore'?)",
            )
        ],
    ),
    Case(
        "unknown-api-profile",
        replace("api: procore", "api: procor"),
        [Expected(7, 10, "connections.procore.api", "unknown API profile 'procor'")],
    ),
    Case(
        "unknown-task-reference",
        replace("per_page: 100", 'per_page: "{{ tasks.nope.output.items }}"'),
        [
            Expected(
                17, 17, "list_images.params.per_page", "tasks.nope is not a task of this workflow"
            )
        ],
    ),
    Case(
        "unknown-depends-on",
        replace("    connection: procore\n", "    connection: procore\n    depends_on: [nope]\n"),
        [Expected(13, 18, "list_images.depends_on[0]", "unknown task 'nope'")],
    ),
    Case(
        "depends-on-itself",
        replace(
            "    connection: procore\n", "    connection: procore\n    depends_on: list_images\n"
        ),
        [Expected(13, 17, "list_images.depends_on", "task 'list_images' depends on itself")],
    ),
    Case(
        "reads-its-own-output",
        replace("per_page: 100", 'per_page: "{{ tasks.list_images.output.items }}"'),
        [
            Expected(
                17, 17, "list_images.params.per_page", "task 'list_images' reads its own output"
            )
        ],
    ),
    Case(
        "cycle",
        BASE + TWO_TASKS_CYCLE,
        [Expected(18, 3, "b", "tasks depend on each other in a cycle: b -> c -> b")],
    ),
    Case(
        "sandbox-mro",
        replace("per_page: 100", "per_page: \"{{ ''.__class__.__mro__ }}\""),
        [
            Expected(17, 17, "list_images.params.per_page", "'__mro__' is a private attribute"),
            Expected(17, 17, "list_images.params.per_page", "'__class__' is a private attribute"),
        ],
    ),
    Case(
        "sandbox-globals",
        replace("per_page: 100", 'per_page: "{{ x.__globals__ }}"'),
        [
            Expected(17, 17, "list_images.params.per_page", "'__globals__' is a private attribute"),
            Expected(17, 17, "list_images.params.per_page", "'x' is undefined"),
        ],
    ),
    Case(
        "sandbox-subscript",
        replace("per_page: 100", "per_page: \"{{ inputs['_secret'] }}\""),
        [
            Expected(17, 17, "list_images.params.per_page", "'_secret' is a private attribute"),
            Expected(17, 17, "list_images.params.per_page", "inputs._secret is not declared"),
        ],
    ),
    Case(
        "connection-reads-task-output",
        replace(
            "base_url: https://api.example.com",
            'base_url: "{{ tasks.list_images.output.items }}"',
        ),
        [Expected(8, 15, "connections.procore.base_url", "connections cannot read task outputs")],
    ),
    Case(
        "bad-cron-value",
        BASE + 'schedule:\n  cron: "61 * * * *"\n',
        [Expected(19, 9, "schedule.cron", "'61 * * * *' is not a valid cron expression")],
    ),
    Case(
        "bad-cron-fields",
        BASE + 'schedule:\n  cron: "0 * * *"\n',
        [Expected(19, 9, "schedule.cron", "it needs 5 fields")],
    ),
    Case(
        "bad-timezone",
        BASE + 'schedule:\n  cron: "0 6 * * *"\n  timezone: Mars/Olympus\n',
        [Expected(20, 13, "schedule.timezone", "unknown time zone 'Mars/Olympus'")],
    ),
    Case(
        "bad-duration-every",
        BASE + "schedule:\n  every: 30 fortnights\n",
        [Expected(19, 10, "schedule.every", "'30 fortnights' is not valid here")],
    ),
    Case(
        "bad-duration-timeout",
        replace("    connection: procore\n", "    connection: procore\n    timeout: 5 parsecs\n"),
        [Expected(13, 14, "list_images.timeout", "'5 parsecs' is not valid here")],
    ),
    Case(
        "task-without-operation-or-request",
        replace(
            "    operation: procore.images.list\n    connection: procore\n    params:\n"
            '      Procore-Company-Id: "{{ inputs.company_id }}"\n'
            '      project_id: "{{ inputs.project_id }}"\n'
            "      sort: -created_at\n      per_page: 100\n",
            "    description: nothing to do\n",
        ),
        [Expected(10, 3, "list_images", "a task needs `operation`")],
    ),
    Case(
        "all-errors-at-once-sorted",
        replace("per_page: 100", "per_pag: 100").replace("sort: -created_at", "sort: newest")
        + "bogus: 1\n",
        [
            Expected(16, 13, "list_images.params.sort", "'newest' is not one of the allowed"),
            Expected(17, 7, "list_images.params.per_pag", "unknown parameter 'per_pag'"),
            Expected(18, 1, "bogus", "unknown key 'bogus'"),
        ],
    ),
    Case(
        "all-errors-at-once-across-sections",
        replace("connection: procore\n", "connection: procor\n").replace(
            "default: 777", "default: abc"
        )
        + 'schedule:\n  cron: "0 6 * * *"\n  timezone: Nowhere/Land\n',
        [
            Expected(4, 40, "inputs.project_id.default", "'abc' is not of type 'integer'"),
            Expected(12, 17, "list_images.connection", "unknown connection 'procor'"),
            Expected(20, 13, "schedule.timezone", "unknown time zone 'Nowhere/Land'"),
        ],
    ),
    Case(
        "path-parameter-dot-dot",
        PATH_PARAM,
        [Expected(12, 19, "list.params.project_id", "path parameter 'project_id' cannot be '..'")],
        args=["--definitions", str(DEFINITIONS), "-i", "project=.."],
    ),
]

XFAIL: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TASK_RUNNER_DEFINITIONS", "PROCORE_BASE_URL", "PROCORE_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)


def run_validate(
    path: Path, args: list[str], capsys: pytest.CaptureFixture[str], *, output: str = "json"
) -> tuple[int, str, str]:
    code = main(["validate", str(path), "--output", output, *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


def _params() -> list[object]:
    out = []
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[case.id])] if case.id in XFAIL else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def test_the_matrix_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_base_workflow_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(BASE)
    code, out, _ = run_validate(path, ["-i", "company_id=8089"], capsys)
    assert (code, json.loads(out)) == (0, [])


@pytest.mark.parametrize("case", _params())
def test_json_report(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(case.text)
    code, out, _ = run_validate(path, case.args, capsys)
    assert code == 2
    reported = json.loads(out)
    assert isinstance(reported, list)
    assert len(reported) == len(case.errors), reported
    for got, want in zip(reported, case.errors, strict=True):
        assert {"file", "line", "column", "path", "message"} <= set(got)
        assert got["file"] == str(path)
        assert got["line"] == want.line, got
        if want.column is not None:
            assert got["column"] == want.column, got
        assert got["path"] == want.path, got
        assert want.message in got["message"], got
    assert [(e["line"], e["column"]) for e in reported] == sorted(
        (e["line"], e["column"]) for e in reported
    )


@pytest.mark.parametrize("case", _params())
def test_text_report(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(case.text)
    code, out, err = run_validate(path, case.args, capsys, output="text")
    assert code == 2
    assert out == ""  # errors go to stderr; stdout holds results only
    *lines, summary = err.splitlines()
    assert len(lines) == len(case.errors), err
    for line, want in zip(lines, case.errors, strict=True):
        column = "" if want.column is None else str(want.column)
        prefix = f"{path}:{want.line}:{column}"
        assert line.startswith(prefix), line
        tail = line.split(": ", 1)[1]
        if want.path is not None:
            assert tail.startswith(f"{want.path}: "), line
        assert want.message in tail, line
    assert summary.startswith(f"{len(case.errors)} error(s)")


def test_raw_request_host_from_template_is_refused_by_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(RAW_HOST)
    code = main(["test-request", str(path), "--task", "raw", "--dry-run"])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert "raw.request.url: a raw request without a connection must spell out" in captured.err
    assert "evil.example" not in captured.out


def test_raw_request_host_from_template_is_caught_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(RAW_HOST)
    code, out, _ = run_validate(path, [], capsys)
    assert code == 2
    [error] = json.loads(out)
    assert (error["line"], error["column"], error["path"]) == (8, 12, "raw.request.url")


def test_several_files_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(replace("per_page: 100", "per_page: many"))
    (tmp_path / "b.yml").write_text(BASE + "bogus: 1\n")
    (tmp_path / "notes.txt").write_text("not a workflow: {")
    code, out, _ = run_validate(tmp_path, [], capsys)
    assert code == 2
    reported = json.loads(out)
    assert [(Path(e["file"]).name, e["line"], e["path"]) for e in reported] == [
        ("a.yaml", 17, "list_images.params.per_page"),
        ("b.yml", 18, "bogus"),
    ]


def test_a_missing_file_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_validate(tmp_path / "nope.yaml", [], capsys)
    assert code == 2
    [error] = json.loads(out)
    assert error["message"] == "file not found"


def test_a_binary_file_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_bytes(b"name: t\x00\xff")
    code, out, _ = run_validate(path, [], capsys)
    assert code == 2
    [error] = json.loads(out)
    assert "binary" in error["message"]


@pytest.mark.parametrize("value", ["..", "."])
def test_a_path_parameter_climbing_out_is_refused(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(PATH_PARAM)
    args = ["--definitions", str(DEFINITIONS), "-i", f"project={value}"]
    code, out, _ = run_validate(path, args, capsys)
    assert code == 2
    [error] = json.loads(out)
    assert error["path"] == "list.params.project_id"
    assert f"path parameter 'project_id' cannot be {value!r}" in error["message"]


def test_a_path_parameter_with_slashes_is_one_encoded_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(PATH_PARAM)
    args = ["--definitions", str(DEFINITIONS), "-i", "project=../../admin"]
    code = main(
        ["test-request", str(path), "--task", "list", "--dry-run", "--output", "json", *args]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    url = json.loads(captured.out)["request"]["url"]
    assert url == "https://api.example.com/rest/v1.0/projects/..%2F..%2Fadmin/images"
