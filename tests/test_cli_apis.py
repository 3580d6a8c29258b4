"""``task-runner apis``: list, search, show (text and JSON) and generate (--check)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from task_runner.cli import main

ROOT = Path(__file__).resolve().parent.parent
IMAGES_ROW = {
    "id": "procore.images.list",
    "method": "GET",
    "path": "/rest/v1.0/images",
    "summary": "Return a list of all Images from a Project's Photo Album (Image Category).",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASK_RUNNER_DEFINITIONS", raising=False)


def test_list_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "apis", "list")
    assert code == 0
    assert out.startswith("procore.images.list  GET /rest/v1.0/images  Return a list of all Images")
    code, out, _ = run(capsys, "apis", "list", "--output", "json")
    assert code == 0 and IMAGES_ROW in json.loads(out)


def test_search(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "apis", "search", "images filters[log_date]", "--output", "json")
    assert code == 0 and json.loads(out) == [IMAGES_ROW]
    code, out, err = run(capsys, "apis", "search", "zzz-nothing")
    assert code == 0 and out == "" and "no operation matches" in err
    code, out, _ = run(capsys, "apis", "search", "zzz-nothing", "--output", "json")
    assert json.loads(out) == []


def test_show_renders_all_17_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "apis", "show", "procore.images.list")
    assert code == 0
    assert out.startswith("procore.images.list: GET /rest/v1.0/images")
    assert "Parameters (17, 2 required):" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    assert lines[header].split() == ["NAME", "IN", "TYPE", "REQUIRED", "DEFAULT"]
    rows = [line.split() for line in lines[header + 1 :] if line and not line.startswith(" ")]
    rows = [r for r in rows if r[0] not in ("Source:", "Params")]
    assert rows[0] == ["Procore-Company-Id", "header", "integer", "yes"]
    assert ["filters[created_at]", "query", "string<iso8601-range>", "no"] in rows
    assert ["filters[starred]", "query", "boolean", "no", "false"] in rows
    assert ["filters[trade_ids][]", "query", "array", "of", "integer|string", "no"] in rows
    assert len(rows) == 17
    assert (
        'possible values: "deleted_at", "taken_at", "exposure_date", "most_recent", "created_at"'
        in out
    )
    assert "Unique identifier for the project." in out
    assert "YYYY-MM-DD...YYYY-MM-DD" in out  # descriptions are not broken at hyphens


def test_show_json_is_the_definition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "apis", "show", "procore.images.list", "--output", "json")
    committed = json.loads((ROOT / "task_definitions/procore/procore.images.list.json").read_text())
    assert code == 0 and json.loads(out) == committed


def test_show_unknown_id_exits_2_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "apis", "show", "procore.image.list")
    assert code == 2
    assert "unknown operation 'procore.image.list' (did you mean 'procore.images.list'?)" in err
    assert "Traceback" not in err


def test_definitions_option_and_env(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "p.txt"
    page.write_text("GET /rest/v1.0/vendors\n\nList vendors.\n")
    code, out, _ = run(
        capsys,
        "apis",
        "generate",
        str(page),
        "--api",
        "procore",
        "--out",
        str(tmp_path / "d"),
        "--schemas-out",
        str(tmp_path / "s"),
    )
    assert code == 0 and "procore.vendors.list.json" in out
    code, out, _ = run(
        capsys, "apis", "list", "--definitions", str(tmp_path / "d"), "--output", "json"
    )
    assert [r["id"] for r in json.loads(out)] == ["procore.images.list", "procore.vendors.list"]
    monkeypatch.setenv(
        "TASK_RUNNER_DEFINITIONS", os.pathsep.join(["/nonexistent", str(tmp_path / "d")])
    )
    code, out, _ = run(capsys, "apis", "show", "procore.vendors.list", "--output", "json")
    assert code == 0 and json.loads(out)["path"] == "/rest/v1.0/vendors"


def test_generate_check_is_clean_from_the_repo_root(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run(capsys, "apis", "generate", "--check")
    assert code == 0 and "up to date" in out
    code, out, _ = run(capsys, "apis", "generate", "--check", "--output", "json")
    assert code == 0 and json.loads(out) == {"status": "ok", "differing": []}


def test_generate_check_lists_differing_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in ("task_definitions", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    definition = tmp_path / "task_definitions/procore/procore.images.list.json"
    definition.write_text(definition.read_text().replace('"Page"', '"Pages"'))
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "apis", "generate", "--check")
    assert code == 1
    assert "task_definitions/procore/procore.images.list.json" in err
    code, _, _ = run(
        capsys,
        "apis",
        "generate",
        "task_definitions/procore/reference/procore-rest-v1.0-images-get.txt",
        "--api",
        "procore",
    )
    assert code == 0
    code, _, _ = run(capsys, "apis", "generate", "--check")
    assert code == 0


def test_generate_errors_exit_2_and_write_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    page = tmp_path / "bad.txt"
    page.write_text("not a reference page\n")
    code, _, err = run(
        capsys, "apis", "generate", str(page), "--api", "procore", "--out", str(tmp_path / "d")
    )
    assert code == 2 and f"{page}:1:1: no method line" in err
    assert not (tmp_path / "d").exists()
    code, out, _ = run(
        capsys, "apis", "generate", str(page), "--api", "procore", "--output", "json"
    )
    assert code == 2 and json.loads(out)["errors"][0]["line"] == 1
    code, _, err = run(capsys, "apis", "generate", str(page))
    assert code == 2 and "--api is required" in err
    code, _, err = run(capsys, "apis", "generate")
    assert code == 2 and "REFERENCE" in err
