"""The command line as a person meets it: common options before or after the command,
``--log-format json`` making every stderr line a JSON object, ``validate`` results on
stdout and its errors on stderr, and help texts without loose ends."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from task_runner.cli import build_parser, command_in, main
from tests.runs_support import restore_logging

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "workflows" / "procore_images.yaml"  # cron, America/Los_Angeles
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]
INVALID = "name: broken\ntasks:\n  a:\n    request: {method: GET, url: 7}\n    bogus: 1\n"

_logging = pytest.fixture(autouse=True)(restore_logging)


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "task_runner", *args],
        cwd=cwd,
        env={**os.environ, "TASK_RUNNER_STATE_DIR": str(cwd / "state"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def json_logs_on() -> bool:
    """Whether the ``task_runner`` logger writes JSON lines (what ``main`` configured)."""
    from task_runner.cli.logformat import JsonLogFormatter

    handlers = logging.getLogger("task_runner").handlers
    return any(isinstance(h.formatter, JsonLogFormatter) for h in handlers)


def json_lines(stderr: str) -> list[dict[str, object]]:
    """Every stderr line as a JSON object (fails on the first that is not one)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{stderr}") from None
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    return records


# -- common options before or after the command ------------------------------------------


@pytest.mark.parametrize(
    ("argv", "level", "as_json"),
    [
        (["validate", str(EXAMPLE), *INPUTS, "-v"], logging.INFO, False),
        (["validate", "-vv", str(EXAMPLE), *INPUTS], logging.DEBUG, False),
        (["-v", "validate", str(EXAMPLE), *INPUTS, "--verbose"], logging.DEBUG, False),
        (["validate", str(EXAMPLE), *INPUTS, "--log-format", "json"], logging.WARNING, True),
        (["validate", str(EXAMPLE), *INPUTS, "--log-format=json", "-v"], logging.INFO, True),
        (
            ["--log-format", "json", "validate", str(EXAMPLE), *INPUTS, "--log-format=text"],
            logging.WARNING,
            False,
        ),
        (["--log-format", "json", "-v", "validate", str(EXAMPLE), *INPUTS], logging.INFO, True),
    ],
    ids=[
        "v-after",
        "vv-between",
        "counts-add-up",
        "format-after",
        "both-after",
        "last-format-wins",
        "before-still-works",
    ],
)
def test_common_options_work_before_and_after_the_command(
    argv: list[str], level: int, as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0, capsys.readouterr().err
    assert logging.getLogger("task_runner").level == level
    assert json_logs_on() is as_json


def test_common_options_after_a_sub_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["runs", "list", "--state-dir", str(tmp_path), "-v", "--log-format", "json"])
    assert code == 0, capsys.readouterr().err
    assert logging.getLogger("task_runner").level == logging.INFO and json_logs_on()


def test_a_parser_for_one_command_takes_the_common_options_after_it_too() -> None:
    argv = ["validate", "wf.yaml", "-v"]
    assert command_in(argv) == "validate"
    args = build_parser(command_in(argv)).parse_args(argv)
    assert args.verbose == 0 and args.verbose_after == 1  # main adds them up


def test_an_unknown_option_after_the_command_is_still_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["validate", str(EXAMPLE), "--verbsoe"])
    assert stopped.value.code == 2
    assert "unrecognized arguments: --verbsoe" in capsys.readouterr().err


# -- --log-format json: every stderr line is an object -----------------------------------


def test_run_with_the_emulator_writes_only_json_lines_on_stderr(tmp_path: Path) -> None:
    done = cli("run", str(EXAMPLE), "--emulator", *INPUTS, "--log-format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = json_lines(done.stderr)
    messages = [str(r["message"]) for r in records]
    assert any(m.startswith("emulator: Procore emulator on http://127.0.0.1:") for m in messages)
    assert any(m.startswith("emulator: connections pointed at it: procore") for m in messages)
    assert done.stdout.startswith("run ")  # the result stays text for people, on stdout


def test_run_with_the_emulator_keeps_its_text_status_lines_without_json(tmp_path: Path) -> None:
    done = cli("run", str(EXAMPLE), "--emulator", *INPUTS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "emulator: Procore emulator on http://127.0.0.1:" in done.stderr.splitlines()[0]


def test_an_error_is_a_json_line_with_its_exit_code_and_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(INVALID, encoding="utf-8")
    done = cli("--log-format", "json", "run", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2
    [record] = json_lines(done.stderr)
    assert record["level"] == "ERROR" and record["exit_code"] == 2
    errors = record["errors"]
    assert isinstance(errors, list) and errors and all(e["file"] == "bad.yaml" for e in errors)
    assert "bad.yaml:" in str(record["message"])


def test_validate_errors_are_json_lines_too(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(INVALID, encoding="utf-8")
    done = cli("validate", "bad.yaml", "--log-format", "json", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    records = json_lines(done.stderr)
    assert records and all(r["level"] == "ERROR" for r in records)
    assert str(records[-1]["message"]).endswith("error(s) in 1 file(s)")


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "task_runner", "emulator", "--port", "0", "--log-format", "json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=30)


def test_the_emulator_command_announces_itself_in_json(
    emulator_process: subprocess.Popen[str],
) -> None:
    assert emulator_process.stderr is not None
    first = []
    for line in emulator_process.stderr:  # until it says it is ready
        first.append(line)
        if "Ctrl-C" in line:
            break
    emulator_process.send_signal(signal.SIGINT)
    _, rest = emulator_process.communicate(timeout=30)
    assert emulator_process.returncode == 0, rest
    records = json_lines("".join(first) + rest)
    messages = [str(r["message"]) for r in records]
    assert messages[0].startswith("Procore emulator listening on http://127.0.0.1:")
    assert any(m.startswith("  export PROCORE_BASE_URL=") for m in messages)
    assert messages[-1] == "emulator stopped"


# -- validate: results on stdout, errors on stderr ---------------------------------------


def test_validate_prints_results_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE), *INPUTS]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0] == "ok: 1 workflow file(s) valid"
    assert any(x.strip().startswith("next 5 in America/Los_Angeles: ") for x in lines)


def test_validate_prints_errors_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(INVALID, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{path}:")
    assert captured.err.splitlines()[-1].endswith("error(s) in 1 file(s)")


def test_validate_json_output_stays_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE), *INPUTS, "--output", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and captured.err == ""


# -- help texts --------------------------------------------------------------------------


def _command_helps() -> dict[str, str]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    return {c.dest: c.help or "" for c in sub._choices_actions}  # type: ignore[attr-defined]


def test_every_command_has_a_one_line_help_that_ends_in_words() -> None:
    helps = _command_helps()
    assert len(helps) >= 10
    for name, text in helps.items():
        assert text and not text.rstrip().endswith((":", ",")), (name, text)


def test_the_studio_line_lists_its_three_steps_in_order() -> None:
    text = _command_helps()["studio"]
    steps = ["add a task", "find the API and prepare the request", "test it"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions), text


def test_the_top_level_help_says_options_may_follow_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "Common options may also follow the command" in capsys.readouterr().out


def test_a_secret_in_an_error_stays_masked_in_json_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Canary: the ``errors`` field of a JSON error line is masked as its message is."""
    from task_runner.cli import _print_error, configure_logging
    from task_runner.errors import InputError, InputErrors, SourceLocation
    from task_runner.redact import REDACTOR

    canary = "cli-json-canary-8c41f2e07b"
    configure_logging(0, "json")
    with REDACTOR.scope("canary test"):
        REDACTOR.add(canary)
        error = InputError(
            f"the value {canary} is wrong", location=SourceLocation("wf.yaml", 3, 5), path="a.b"
        )
        _print_error(InputErrors([error, InputError(f"and {canary} again")]), None)
        _print_error(InputError(f"once more: {canary}"), None)
    err = capsys.readouterr().err
    assert canary not in err
    first, second = json_lines(err)
    assert first["exit_code"] == 2 and len(first["errors"]) == 2  # type: ignore[arg-type]
    assert "***" in json.dumps(first["errors"]) and "***" in str(second["message"])
