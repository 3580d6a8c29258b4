"""A run pays only for what it uses: the CLI's start-up imports stay light.

Each check runs a fresh interpreter (``sys.modules`` of this test process already holds
everything) and reports which of the heavy libraries the command imported. The second
``run`` of an unchanged workflow skips the schema check it passed before, so it never
imports jsonschema; an edited workflow is checked again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from task_runner.cli import COMMAND_MODULES, build_parser, command_in, main
from task_runner.workflow.loader import load_workflow, structure_checks_cached_in
from tests.httpserver import TestServer, paged

ROOT = Path(__file__).resolve().parents[1]

#: Libraries no command's ``--help`` (nor the parser) may import: each costs tens of ms.
HEAVY = (
    "jsonschema",
    "referencing",
    "jinja2",
    "yaml",
    "requests",
    "urllib3",
    "filelock",
    "sqlite3",
    "task_runner.runner",
    "task_runner.workflow",
    "task_runner.http",
    "task_runner.catalogue",
    "task_runner.state",
)

PROBE = """
import json, sys
from task_runner.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = {heavy!r}
found = sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules))
print("\\nPROBE" + json.dumps({{"code": code, "imported": found}}))
"""


def probe(args: list[str], cwd: Path, heavy: tuple[str, ...] = HEAVY) -> dict[str, object]:
    """Run the CLI with ``args`` in a fresh interpreter; its exit code and the heavy
    modules it imported."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=heavy), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = done.stdout.rsplit("\nPROBE", 1)
    assert len(line) == 2, done.stdout + done.stderr
    return json.loads(line[1])  # type: ignore[no-any-return]


def command_names() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    return sorted(actions[0].choices)  # type: ignore[arg-type]


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    result = probe(["--help"], tmp_path)
    assert result["code"] == 0
    assert result["imported"] == []


def test_every_command_help_imports_nothing_heavy(tmp_path: Path) -> None:
    names = command_names()
    assert len(names) >= len(COMMAND_MODULES)  # every module registers a command
    slow = {}
    for name in names:
        result = probe([name, "--help"], tmp_path)
        assert result["code"] == 0, name
        if result["imported"]:
            slow[name] = result["imported"]
    assert slow == {}, "command modules must import heavy modules inside their handlers"


def write_workflow(path: Path, base_url: str, *, name: str = "lazy") -> Path:
    path.write_text(
        f"""\
name: {name}
connections:
  api:
    base_url: "{base_url}"
tasks:
  items:
    connection: api
    request: {{method: GET, url: /api/items, query: {{per_page: 10}}}}
    paginate: all
    output:
      jsonl: out/items.jsonl
""",
        encoding="utf-8",
    )
    return path


def test_second_run_of_an_unchanged_workflow_skips_jsonschema(tmp_path: Path) -> None:
    items = [{"id": n} for n in range(1, 26)]
    state = tmp_path / "state"
    with TestServer(paged(items)) as server:
        workflow = write_workflow(tmp_path / "wf.yaml", server.url)
        args = ["run", str(workflow), "--state-dir", str(state)]
        first = probe(args, tmp_path, ("jsonschema",))
        second = probe(args, tmp_path, ("jsonschema",))
        write_workflow(workflow, server.url, name="lazy-edited")
        edited = probe(args, tmp_path, ("jsonschema",))
    assert first == {"code": 0, "imported": ["jsonschema"]}
    assert second == {"code": 0, "imported": []}
    assert edited == {"code": 0, "imported": ["jsonschema"]}  # checked again
    lines = (tmp_path / "out" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 25  # the output of the last run, as the runs before it wrote it


def test_a_remembered_pass_never_hides_a_new_mistake(tmp_path: Path) -> None:
    from task_runner.errors import InputErrors

    state = tmp_path / "state"
    workflow = write_workflow(tmp_path / "wf.yaml", "http://127.0.0.1:9")
    with structure_checks_cached_in(state):
        load_workflow(workflow)
        assert len((state / "schema-checked").read_text().split()) == 1
        text = workflow.read_text(encoding="utf-8").replace("paginate: all", "paginate: al")
        workflow.write_text(text + "unknown_key: 1\n", encoding="utf-8")
        with pytest.raises(InputErrors) as caught:
            load_workflow(workflow)
    messages = [error.message for error in caught.value.errors]
    assert any("unknown key" in message for message in messages), messages
    assert len((state / "schema-checked").read_text().split()) == 1  # errors: not kept


def test_an_unreadable_cache_means_the_check_runs(tmp_path: Path) -> None:
    from task_runner.errors import InputErrors

    state = tmp_path / "state"
    state.mkdir()
    (state / "schema-checked").write_bytes(b"\xff\xfe not ascii")
    workflow = tmp_path / "wf.yaml"
    workflow.write_text("name: x\nconnections: {}\ntasks: {}\nbogus: 1\n", encoding="utf-8")
    with structure_checks_cached_in(state), pytest.raises(InputErrors):
        load_workflow(workflow)
    with pytest.raises(InputErrors):  # outside the block nothing is remembered or read
        load_workflow(workflow)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["run", "wf.yaml"], "run"),
        (["-v", "run", "wf.yaml"], "run"),
        (["-vv", "--log-format", "json", "add-task", "x"], "add-task"),
        (["--log-format=json", "--verbose", "runs", "list"], "runs"),
        (["-h", "run"], None),  # top-level help lists every command
        (["--version"], None),
        (["-vh", "run"], None),
        (["--", "run"], None),
        ([], None),
        (["--log-format"], None),
    ],
)
def test_the_command_is_found_before_anything_is_built(
    argv: list[str], command: str | None
) -> None:
    assert command_in(argv) == command


def subcommand_help(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name].format_help()  # type: ignore[no-any-return]
    raise AssertionError(name)


def test_a_parser_built_for_one_command_is_that_commands_parser() -> None:
    full = build_parser()
    for name in command_names():
        alone = build_parser(name)
        assert subcommand_help(alone, name) == subcommand_help(full, name)
        assert alone.format_usage() == full.format_usage()


def test_an_unknown_command_is_refused_with_every_known_one_listed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["-v", "rnu", "wf.yaml"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'rnu'" in err
    assert all(f"'{name}'" in err for name in command_names())
