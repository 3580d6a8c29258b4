"""Hostile workflow files: every crafted cost is refused quickly, in bounded memory, with
exit code 2 and a message that names the limit and how to raise it; ``env`` and
``secrets`` are never printed whole.

The bombs run the real CLI (``python -m task_runner``) in a child process, whose peak
memory comes from ``os.wait4``'s rusage and whose time is bounded by the harness.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from task_runner.cli import main
from task_runner.errors import TemplateError
from task_runner.workflow.limits import TemplateLimits
from task_runner.workflow.templating import Namespace, SecretsNamespace, TemplateEngine
from tests.support import PEAK_RSS_DRIVER

pytestmark = pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 (POSIX)")

#: What validating one hostile file may cost: wall-clock seconds and peak memory.
SECONDS = 5.0
PEAK_KB = 300 * 1024
#: A child that escapes every limit still stops here, not in the machine's swap.
SAFETY_NET_BYTES = 2 << 30

CANARY = "hostile-canary-7f3a9c"
LIMIT_VARIABLES = (
    "TASK_RUNNER_MAX_FILE_BYTES",
    "TASK_RUNNER_MAX_YAML_NODES",
    "TASK_RUNNER_MAX_INPUT_BYTES",
    "TASK_RUNNER_MAX_TEMPLATE_STEPS",
    "TASK_RUNNER_MAX_TEMPLATE_CHARS",
    "TASK_RUNNER_MAX_TEMPLATE_SECONDS",
)


# --- the harness ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_kb: int

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _safety_net() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (SAFETY_NET_BYTES, SAFETY_NET_BYTES))


def run_cli(
    *argv: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
    timeout: float = 60.0,
) -> Finished:
    """``python -m task_runner ARGV`` in a child process (``stdin`` written to a pipe): exit
    code, output, wall time and peak resident memory (``ru_maxrss``, in KiB on Linux)."""
    environ = {k: v for k, v in os.environ.items() if k not in LIMIT_VARIABLES}
    environ[CANARY.upper().replace("-", "_")] = CANARY
    environ.update(env or {})
    # The child's own peak (VmHWM), written as it exits: wait4's ru_maxrss would carry the
    # high-water mark of the pytest process it was forked from.
    peak_file = cwd / "peak-rss.txt"
    peak_file.unlink(missing_ok=True)
    environ["HOSTILE_PEAK_FILE"] = str(peak_file)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", PEAK_RSS_DRIVER, *argv],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            cwd=cwd,
            env=environ,
            preexec_fn=_safety_net,
        )
        feeder = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
        feeder.start()
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                pytest.fail(f"task-runner {' '.join(argv)} still ran after {timeout} s")
            time.sleep(0.01)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak = int(peak_file.read_text()) if peak_file.exists() else usage.ru_maxrss
        return Finished(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            peak,
        )


def _feed(pipe: Any, data: bytes) -> None:
    """Write ``data`` to the child's stdin; it may stop reading (and exit) before the end."""
    try:
        for start in range(0, len(data), 1 << 16):
            pipe.write(data[start : start + (1 << 16)])
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def assert_refused(done: Finished, *needles: str, seconds: float = SECONDS) -> None:
    """Exit 2, quickly, in bounded memory, no traceback, and the message says ``needles``."""
    assert done.code == 2, done.output[-2000:]
    assert done.seconds < seconds, f"{done.seconds:.1f} s"
    assert done.peak_kb < PEAK_KB, f"peak {done.peak_kb // 1024} MiB"
    assert "Traceback" not in done.output and "internal error" not in done.output
    assert len(done.output) < 20_000, "the message quotes too much"
    for needle in needles:
        assert needle in done.output, done.output[-2000:]


def operation_workflow(params: str = "", extra: str = "") -> str:
    """A Procore images workflow that ``validate`` renders (literal URL, no auth)."""
    return f"""\
name: hostile
inputs:
  company_id: {{type: integer, default: 8089}}
  project_id: {{type: integer, default: 777}}
connections:
  procore:
    api: procore
    base_url: "http://127.0.0.1:9"
    auth: {{type: none}}
tasks:
  list_images:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{{{ inputs.company_id }}}}"
      project_id: "{{{{ inputs.project_id }}}}"
{params}{extra}"""


def raw_workflow(query_value: str) -> str:
    """A raw-request workflow whose one query value is ``query_value`` (a template)."""
    return f"""\
name: hostile-run
connections:
  api:
    base_url: "http://127.0.0.1:9"
tasks:
  items:
    connection: api
    request:
      method: GET
      url: /items
      query: {{q: {json.dumps(query_value)}}}
"""


def param(source: str) -> str:
    return f"      sort: {json.dumps(source)}\n"


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def billion_laughs(levels: int = 9, width: int = 9) -> tuple[str, str]:
    """Anchors for ``levels`` nested lists of ``width`` aliases each (9**9 leaves, < 1 kB),
    and the alias of the last."""
    lines = [f"lol0: &lol0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"lol{level}: &lol{level} [{', '.join([f'*lol{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n", f"*lol{levels - 1}"


# --- template bombs, through `validate` (which sends nothing) -------------------------------

TEMPLATE_BOMBS = [
    ("{{ 'a' * 10**9 }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ [0] * 10**9 }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ 9 ** (10**9) }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "TASK_RUNNER_MAX_TEMPLATE_STEPS",
    ),
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "TASK_RUNNER_MAX_TEMPLATE_STEPS",
    ),
    ("{{ range(10**9) | list }}", "TASK_RUNNER_MAX_TEMPLATE_STEPS"),
    ("{{ '{:>1000000000}'.format(1) }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ '%1000000000d' % 1 }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ '%*d' % (1000000000, 1) }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ 'x' | center(1000000000) }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ 'x'.ljust(1000000000) }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ range(100000) | join('x' * 100000) }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ ('a' * 100000) | replace('a', 'b' * 1000) }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    ("{{ [1] | batch(1000000000, 0) | list }}", "TASK_RUNNER_MAX_TEMPLATE_CHARS"),
    (
        "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s | length }}",
        "TASK_RUNNER_MAX_TEMPLATE_CHARS",
    ),
    (
        "{% set a = ['x' * 1000] * 8 %}{% set b = [a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c] %}"
        "{{ [d, d, d, d, d, d, d, d] | tojson }}",
        "TASK_RUNNER_MAX_TEMPLATE_CHARS",
    ),
    (
        "{% for x in [1, 2] recursive %}{{ loop([x, x]) }}{{ loop([x, x]) }}{% endfor %}",
        "the template calls itself too deeply",
    ),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("source", "limit"), TEMPLATE_BOMBS, ids=[s for s, _ in TEMPLATE_BOMBS])
def test_template_bombs_stop_in_validate(tmp_path: Path, source: str, limit: str) -> None:
    path = write(tmp_path, operation_workflow(param(source)))
    done = run_cli("validate", str(path), cwd=tmp_path)
    assert_refused(done, limit, "list_images.params.sort")


@pytest.mark.timeout(60)
def test_a_template_bomb_stops_a_run_before_anything_is_sent(tmp_path: Path) -> None:
    path = write(tmp_path, raw_workflow("{{ 'a' * 10**9 }}"))
    done = run_cli("run", str(path), cwd=tmp_path)
    assert_refused(done, "TASK_RUNNER_MAX_TEMPLATE_CHARS", "items.request")


# --- YAML bombs ---------------------------------------------------------------------------------


def _laughs_under_params() -> str:
    anchors, alias = billion_laughs()
    return anchors + operation_workflow(f"      filters[id][]: {alias}\n")


def _laughs_under_an_unknown_key() -> str:
    anchors, alias = billion_laughs()
    return anchors + operation_workflow(extra=f"    bogus: {alias}\n")


def _laughs_as_a_wrong_type() -> str:
    anchors, alias = billion_laughs()
    return anchors + operation_workflow().replace("name: hostile", f"name: {alias}")


def _laughs_as_an_input_default() -> str:
    anchors, alias = billion_laughs()
    text = operation_workflow().replace(
        "inputs:\n", f"inputs:\n  ids: {{type: array, default: {alias}}}\n"
    )
    return anchors + text


def _laughs_through_merge_keys() -> str:
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: lol" for i in range(9)) + "}"]
    for level in range(1, 9):
        keys = ", ".join(f"k{i}: *m{level - 1}" for i in range(9))
        lines.append(f"m{level}: &m{level} {{<<: *m{level - 1}, {keys}}}")
    return "\n".join(lines) + "\n" + operation_workflow(extra="    merged: {<<: *m8}\n")


YAML_BOMBS = {
    "params": _laughs_under_params,
    "unknown-key": _laughs_under_an_unknown_key,
    "wrong-type": _laughs_as_a_wrong_type,
    "input-default": _laughs_as_an_input_default,
    "merge-keys": _laughs_through_merge_keys,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("make", YAML_BOMBS.values(), ids=YAML_BOMBS.keys())
def test_billion_laughs_is_refused_wherever_it_stands(
    tmp_path: Path, make: Any, command: str
) -> None:
    text = make()
    assert len(text) < 4000
    done = run_cli(command, str(write(tmp_path, text)), cwd=tmp_path)
    assert_refused(done, "aliases are", "TASK_RUNNER_MAX_YAML_NODES", "wf.yaml:")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("array", "[&a [1, 1, 1, 1, 1, 1, 1, 1, 1], [*a, *a, *a, *a, *a, *a, *a, *a, *a]]"),
        ("object", "{a: &a [1, 1, 1], b: *a}"),
    ],
    ids=["array", "object"],
)
def test_aliases_in_an_input_value_are_refused(tmp_path: Path, kind: str, value: str) -> None:
    text = operation_workflow().replace("inputs:\n", f"inputs:\n  ids: {{type: {kind}}}\n")
    done = run_cli("validate", str(write(tmp_path, text)), "--input", f"ids={value}", cwd=tmp_path)
    assert_refused(done, "anchors and aliases are not read")


# --- large files and values ------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_60_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    with path.open("w", encoding="utf-8") as file:
        file.write(operation_workflow())
        line = "# " + "x" * 1021 + "\n"
        for _ in range(60 * 1024):
            file.write(line)
    assert path.stat().st_size > 60_000_000
    done = run_cli("validate", str(path), cwd=tmp_path)
    assert_refused(done, "more than the 5,000,000 bytes", "TASK_RUNNER_MAX_FILE_BYTES")
    assert done.peak_kb < 100 * 1024


@pytest.mark.timeout(60)
def test_a_large_file_through_a_pipe_is_read_only_up_to_the_limit(tmp_path: Path) -> None:
    text = operation_workflow() + "#" * 20_000_000 + "\n"
    done = run_cli("validate", "/dev/stdin", cwd=tmp_path, stdin=text.encode())
    assert_refused(done, "TASK_RUNNER_MAX_FILE_BYTES")


@pytest.mark.timeout(60)
def test_a_dense_file_under_the_size_limit_stops_at_the_value_limit(tmp_path: Path) -> None:
    ids = ",".join(["0"] * 2_000_000)
    path = write(tmp_path, operation_workflow(f"      filters[id][]: [{ids}]\n"))
    assert 3_000_000 < path.stat().st_size < 5_000_000
    done = run_cli("validate", str(path), cwd=tmp_path)
    assert_refused(done, "more than 100,000 values", "TASK_RUNNER_MAX_YAML_NODES")


@pytest.mark.timeout(60)
def test_an_input_value_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    text = operation_workflow().replace("inputs:\n", "inputs:\n  note: {type: string}\n")
    done = run_cli(
        "validate", str(write(tmp_path, text)), "--input", "note=" + "x" * 70_000, cwd=tmp_path
    )
    assert_refused(done, "--input note", "70,000 bytes", "TASK_RUNNER_MAX_INPUT_BYTES")


# --- the limits are the operator's to raise ---------------------------------------------------


@pytest.mark.timeout(60)
def test_a_limit_is_raised_by_its_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, operation_workflow(param("{{ 'a' * 2000000 }}")))
    refused = run_cli("validate", str(path), cwd=tmp_path)
    assert_refused(refused, "TASK_RUNNER_MAX_TEMPLATE_CHARS")
    allowed = run_cli(
        "validate", str(path), cwd=tmp_path, env={"TASK_RUNNER_MAX_TEMPLATE_CHARS": "3000000"}
    )
    # Now the template renders, and the value is checked against the parameter's schema.
    assert "TASK_RUNNER_MAX_TEMPLATE_CHARS" not in allowed.output
    assert "list_images.params.sort" in allowed.output


@pytest.mark.timeout(60)
def test_a_limit_that_is_not_a_positive_number_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, operation_workflow())
    done = run_cli("validate", str(path), cwd=tmp_path, env={"TASK_RUNNER_MAX_FILE_BYTES": "lots"})
    assert_refused(done, "TASK_RUNNER_MAX_FILE_BYTES='lots' is not a positive number of bytes")


def test_smaller_limits_refuse_smaller_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, operation_workflow())
    monkeypatch.setenv("TASK_RUNNER_MAX_FILE_BYTES", "100")
    assert main(["validate", str(path)]) == 2
    assert "more than the 100 bytes a workflow file may have" in capsys.readouterr().err
    monkeypatch.delenv("TASK_RUNNER_MAX_FILE_BYTES")
    monkeypatch.setenv("TASK_RUNNER_MAX_YAML_NODES", "10")
    assert main(["validate", str(path)]) == 2
    assert "more than 10 values" in capsys.readouterr().err


# --- env and secrets are never shown whole ------------------------------------------------------

WHOLE_MAPPINGS = [
    "{{ env }}",
    "{{ secrets }}",
    "x{{ env }}",
    "{{ env | list }}",
    "{{ env | tojson }}",
    "{{ env | dictsort }}",
    "{{ env | items | list }}",
    "{{ env | string }}",
    "{{ env | pprint }}",
    "{{ env | join(',') }}",
    "{{ env | map('upper') | join }}",
    "{{ env ~ '' }}",
    "{{ '%s' % env }}",
    "{{ '%(PATH)s' % env }}",
    "{{ '{}'.format(env) }}",
    "{{ [env] }}",
    "{{ {'e': env} | tojson }}",
    "{{ dict(env) }}",
    "{{ namespace(env) }}",
    "{{ env | length }}",
    "{% for k in env %}{{ k }}={{ env[k] }};{% endfor %}",
    "{{ secrets | list }}",
    "{{ secrets | tojson }}",
    "{{ secrets ~ '' }}",
]


@pytest.mark.parametrize("source", WHOLE_MAPPINGS)
def test_env_and_secrets_are_refused_whole_and_never_printed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: str,
) -> None:
    monkeypatch.setenv("HOSTILE_CANARY", CANARY)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"DOTENV_CANARY={CANARY}\n", encoding="utf-8")
    name = "secrets" if "secrets" in source else "env"
    state = tmp_path / "state"
    validate = write(tmp_path, operation_workflow(param(source)), "validate.yaml")
    assert main(["validate", str(validate)]) == 2
    run = write(tmp_path, raw_workflow(source), "run.yaml")
    assert main(["run", str(run), "--state-dir", str(state)]) == 2
    assert main(["run", str(run), "--state-dir", str(state), "--output", "json"]) == 2
    assert main(["runs", "list", "--state-dir", str(state), "--output", "json"]) == 0
    printed = capsys.readouterr()
    assert CANARY not in printed.out + printed.err
    assert f"{name} cannot be used whole" in printed.out
    assert f"as {name}.NAME" in printed.out
    for stored in state.rglob("*"):
        if stored.is_file():
            assert CANARY.encode() not in stored.read_bytes(), stored


@pytest.mark.timeout(60)
def test_env_whole_in_a_child_process_prints_no_value(tmp_path: Path) -> None:
    path = write(tmp_path, raw_workflow("{{ env | tojson }}"))
    done = run_cli("run", str(path), cwd=tmp_path)
    assert_refused(done, "env cannot be used whole", "env.NAME")
    assert CANARY not in done.output


# --- what keeps working -------------------------------------------------------------------------


def _context(**env: str) -> dict[str, Any]:
    return {
        "inputs": Namespace("inputs", {"n": 3, "ids": [1, 2]}),
        "env": Namespace("env", {"HOST": "api.example.com", **env}),
        "secrets": SecretsNamespace({"TOKEN": "t0ken"}, dotenv=None),
        "tasks": Namespace("tasks", {}),
        "run": Namespace("run", {}),
    }


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ env.HOST }}", "api.example.com"),
        ("{{ env['HOST'] }}", "api.example.com"),
        ("{{ env.MISSING | default('d') }}", "d"),
        ("{{ env.HOST if 'HOST' in env else 'no' }}", "api.example.com"),
        ("{{ env.MISSING is defined }}", False),
        ("{{ secrets.TOKEN }}", "t0ken"),
        ("{{ inputs.ids | map('string') | join(',') }}", "1,2"),
        ("{% for i in inputs.ids %}{{ i * 2 }}{% endfor %}", "24"),
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ '%05d' % inputs.n }}", "00003"),
        ("{{ '{:>4}'.format(inputs.n) }}", "   3"),
        ("{{ range(3) | list }}", [0, 1, 2]),
        ("{{ 2 ** 64 }}", 2**64),
        ("{{ {'a': inputs.ids} | tojson }}", '{"a": [1, 2]}'),
    ],
)
def test_ordinary_templates_keep_working(source: str, expected: Any) -> None:
    assert TemplateEngine().render(source, _context()) == expected


def test_budgets_are_per_rendering_and_reported_with_the_knob() -> None:
    engine = TemplateEngine(TemplateLimits(steps=100, chars=50, seconds=5))
    loop = "{% for i in range(200) %}{% endfor %}"
    with pytest.raises(TemplateError, match="TASK_RUNNER_MAX_TEMPLATE_STEPS"):
        engine.render(loop, _context())
    assert engine.render("{% for i in range(40) %}{% endfor %}", _context()) == ""
    assert engine.render("{% for i in range(40) %}{% endfor %}", _context()) == ""
    with pytest.raises(TemplateError, match="TASK_RUNNER_MAX_TEMPLATE_CHARS"):
        engine.render("{{ 'x' * 51 }}", _context())
    with pytest.raises(TemplateError, match="limit of 50"):
        engine.render_value({"a": "{{ 'x' * 30 }}", "b": "{{ 'y' * 30 }}"}, _context())


def test_a_template_that_nests_too_deeply_is_a_template_error() -> None:
    source = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    with pytest.raises(TemplateError, match=r"nests too deeply|too many nested"):
        TemplateEngine().render(source, _context())


@pytest.mark.timeout(30)
def test_an_exponential_macro_stops() -> None:
    # The loader refuses macros (their names read as undefined); the engine stops them anyway.
    source = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    )
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"TASK_RUNNER_MAX_TEMPLATE_(STEPS|SECONDS)"):
        TemplateEngine().render(source, _context())
    assert time.monotonic() - started < SECONDS
