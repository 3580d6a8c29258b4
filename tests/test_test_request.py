"""test-request against the emulator: what it prints, what it records, what it keeps secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from task_runner.cli import main
from task_runner.cli.test_request import body_lines, highlight
from task_runner.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "workflows"
IMAGES = EXAMPLES / "procore_images.yaml"
IMAGES_ALL = EXAMPLES / "procore_images_all.yaml"
TRADES = EXAMPLES / "procore_trade_photos.yaml"
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]
TRADE_INPUTS = [*INPUTS, "-i", "trade_ids=[101, 102]"]
CANARY = "canary-7f3e9b21-never-print-me"

CANARY_WORKFLOW = """\
name: canary
inputs:
  company_id: {type: integer}
  project_id: {type: integer}
connections:
  procore:
    api: procore
    base_url: "{{ env.PROCORE_BASE_URL }}"
    headers:
      X-Canary: "{{ secrets.CANARY }}"
    auth:
      type: oauth2_client_credentials
      token_url: "{{ env.PROCORE_TOKEN_URL }}"
      client_id: "{{ secrets.PROCORE_CLIENT_ID }}"
      client_secret: "{{ secrets.PROCORE_CLIENT_SECRET }}"
tasks:
  photos:
    operation: procore.images.list
    connection: procore
    params:
      Procore-Company-Id: "{{ inputs.company_id }}"
      project_id: "{{ inputs.project_id }}"
      per_page: 5
    paginate: all
"""


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # recordings/ and out/ land in the test's folder
    for name in ("TASK_RUNNER_DEFINITIONS", "PROCORE_BASE_URL", "PROCORE_TOKEN_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as em:
        yield em


def _recordings(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json") if not p.name.startswith("."))


def test_sends_the_task_and_shows_status_headers_and_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["test-request", str(IMAGES), "--task", "list_images", "--emulator", *INPUTS])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.splitlines()
    assert lines[0].startswith("GET http://127.0.0.1:") and "project_id=777" in lines[0]
    assert lines[1].startswith("200 OK")
    assert any(line.startswith("Total: ") for line in lines)
    assert any(line.startswith("X-Rate-Limit-Remaining: ") for line in lines)
    assert '"filename": "IMG_' in captured.out  # a Procore-shaped photo
    assert "\033[" not in captured.out  # no colours when stdout is not a terminal
    assert "emulator:" in captured.err
    recorded = [line for line in lines if line.startswith("recorded: ")]
    assert len(recorded) == 1
    path = tmp_path / recorded[0].removeprefix("recorded: ")
    assert path.parent == tmp_path / "recordings" / "procore-daily-photos" / "list_images"
    data = json.loads(path.read_text())
    assert data["operation"] == "procore.images.list"
    assert data["inputs"] == {"company_id": 8089, "project_id": 777}
    assert data["request"]["headers"]["Authorization"] == "Bearer ***"
    assert data["responses"][0]["status"] == 200
    assert data["attempts"][0]["page"] == 1


def test_json_output_is_one_object_for_editors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "test-request",
            str(IMAGES),
            "-t",
            "list_images",
            "--emulator",
            *INPUTS,
            "--output",
            "json",
        ]
    )
    payload = json.loads(capsys.readouterr().out)
    assert code == 0
    assert payload["status"] == "succeeded" and payload["exit_code"] == 0
    assert payload["task"] == "list_images" and payload["http_status"] == 200
    assert payload["request"]["method"] == "GET"
    assert payload["request"]["headers"]["Procore-Company-Id"] == "8089"
    assert payload["responses"][0]["headers"]["Content-Type"].startswith("application/json")
    assert isinstance(payload["responses"][0]["body"], list)
    assert Path(payload["recording"]).is_file()
    assert json.loads(Path(payload["recording"]).read_text())["responses"] == payload["responses"]


def test_a_refused_status_exits_1_and_is_shown_and_recorded(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = str(emulator.foreign_project_id)
    inputs = ["-i", "company_id=8089", "-i", f"project_id={foreign}", "--record-dir", "recs"]
    code = main(["test-request", str(IMAGES), "-t", "list_images", "--emulator", *inputs])
    captured = capsys.readouterr()
    assert code == 1
    status_line = captured.out.splitlines()[1]
    assert status_line.split()[0] in {"403", "404"}
    assert "errors" in captured.out  # the error body itself is shown
    assert "error:" in captured.err
    [path] = _recordings(tmp_path / "recs")
    data = json.loads(path.read_text())
    assert data["result"]["status"] == "failed"
    assert data["responses"][-1]["accepted"] is False
    assert data["responses"][-1]["body"]


def test_pages_defaults_to_one_and_can_be_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(CANARY_WORKFLOW.replace('X-Canary: "{{ secrets.CANARY }}"', "X-A: b"))
    base = ["test-request", str(workflow), "-t", "photos", *INPUTS, "--output", "json"]
    with Emulator() as em:
        for key, value in em.env().items():
            monkeypatch.setenv(key, value)
        assert main(base) == 0
        one = json.loads(capsys.readouterr().out)
        assert main([*base, "--pages", "3"]) == 0
        three = json.loads(capsys.readouterr().out)
    assert [r["page"] for r in one["responses"]] == [1]
    assert [r["page"] for r in three["responses"]] == [1, 2, 3]
    assert len(three["attempts"]) == 3


def test_no_record_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["test-request", str(IMAGES), "-t", "list_images", "--emulator", *INPUTS, "--no-record"]
    )
    assert code == 0
    assert "recorded:" not in capsys.readouterr().out
    assert not (tmp_path / "recordings").exists()


def test_the_canary_secret_never_leaves_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = tmp_path / "canary.yaml"
    workflow.write_text(CANARY_WORKFLOW)
    monkeypatch.setenv("CANARY", CANARY)
    with Emulator() as em:
        for key, value in em.env().items():
            monkeypatch.setenv(key, value)
        options = ["--pages", "2", "--har", "out.har", "--record-dir", "recs"]
        code = main(["test-request", str(workflow), "-t", "photos", *INPUTS, *options])
        captured = capsys.readouterr()
        secret = em.client_secret
        json_code = main(
            ["test-request", str(workflow), "-t", "photos", *INPUTS, "--output", "json"]
        )
        as_json = capsys.readouterr()
    assert code == 0 and json_code == 0, captured.err
    [recording] = _recordings(tmp_path / "recs")
    texts = {
        "stdout": captured.out + as_json.out,
        "stderr": captured.err + as_json.err,
        "recording": recording.read_text(),
        "har": (tmp_path / "out.har").read_text(),
    }
    for where, text in texts.items():
        assert CANARY not in text, where
        assert secret not in text, where
    data = json.loads(texts["recording"])
    assert data["request"]["headers"]["X-Canary"] == "***"  # it was sent, and masked
    assert all(a["request_headers"]["X-Canary"] == "***" for a in data["attempts"])


def test_upstream_output_comes_from_its_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["test-request", str(TRADES), "--emulator", *TRADE_INPUTS, "--output", "json"]
    assert main([*base, "-t", "find_trade_photos"]) == 0
    first = json.loads(capsys.readouterr().out)
    ids = [item for r in first["responses"] for item in r["body"]]
    assert ids and all(isinstance(i, int) for i in ids)

    assert main([*base, "-t", "fetch_photos"]) == 0
    captured = capsys.readouterr()
    second = json.loads(captured.out)
    assert (
        f"find_trade_photos: output taken from its recording {first['recording']}" in captured.err
    )
    assert second["upstream"] == {
        "find_trade_photos": {"source": "recording", "recording": first["recording"]}
    }
    sent_ids = [int(v) for k, v in second["request"]["query"] if k == "filters[id][]"]
    assert sent_ids == ids
    # and the recording says where its input came from
    assert json.loads(Path(second["recording"]).read_text())["upstream"] == second["upstream"]


def test_without_a_recording_the_upstream_task_runs_first_and_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["test-request", str(TRADES), "-t", "fetch_photos", "--emulator", *TRADE_INPUTS])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (
        "running first (no usable recording with these inputs): find_trade_photos" in captured.err
    )
    upstream = _recordings(tmp_path / "recordings" / "procore-trade-photos" / "find_trade_photos")
    assert len(upstream) == 1
    # other inputs: the recording does not match, so the task runs again
    other = [*INPUTS, "-i", "trade_ids=[103]"]
    assert main(["test-request", str(TRADES), "-t", "fetch_photos", "--emulator", *other]) in (0, 1)
    assert "running first" in capsys.readouterr().err


def test_an_unknown_task_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-request", str(IMAGES), "-t", "nope", "--emulator", *INPUTS]) == 2
    assert "no task 'nope'" in capsys.readouterr().err


def test_a_long_list_body_shows_its_first_items_and_says_how_many() -> None:
    body = [{"id": i, "name": f"photo {i}", "tags": ["a", "b"]} for i in range(30)]
    lines, note = body_lines(body, full=False)
    assert len(lines) <= 40
    shown = sum(1 for line in lines if line.strip().startswith('"id"'))
    assert note == f"... showing {shown} of 30 item(s) (--full prints them all)"
    assert json.loads("\n".join(lines)) == body[:shown]
    full, none = body_lines(body, full=True)
    assert json.loads("\n".join(full)) == body and none == ""


def test_a_huge_first_item_is_cut() -> None:
    lines, note = body_lines([{f"k{i}": i for i in range(200)}], full=False)
    assert len(lines) <= 41 and lines[-2] == "  ..." and "1 of 1" in note


def test_text_and_small_bodies_are_shown_whole() -> None:
    assert body_lines({"a": 1}, full=False) == (["{", '  "a": 1', "}"], "")
    assert body_lines(None, full=False) == (["(empty body)"], "")
    text_lines, note = body_lines("\n".join(f"line {i}" for i in range(50)), full=False)
    assert len(text_lines) == 40 and note.startswith("... 10 more line(s)")


def test_highlight_colours_json_tokens_and_keeps_the_text() -> None:
    line = '  "id": 12, "name": "x", "ok": true'
    painted = highlight(line)
    assert "\033[36m" in painted and "\033[32m" in painted and "\033[33m" in painted
    import re

    assert re.sub(r"\033\[\d+m", "", painted) == line


def test_as_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCORE_")}
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "task_runner", "test-request", str(IMAGES)),
            *("-t", "list_images", "--emulator", *INPUTS, "--output", "json", "--har", "x.har"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["status"] == "succeeded"
    assert (tmp_path / payload["recording"]).is_file()
    assert json.loads((tmp_path / "x.har").read_text())["log"]["version"] == "1.2"
