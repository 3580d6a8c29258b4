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
    # columns are as wide as the longest id of the catalogue (tickets and payments too)
    line = next(x for x in out.splitlines() if x.startswith("procore.images.list "))
    assert line.split()[:5] == ["procore.images.list", "GET", "/rest/v1.0/images", "Return", "a"]
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
    ids = [r["id"] for r in json.loads(out) if r["id"].startswith("procore.")]
    assert ids == ["procore.images.list", "procore.vendors.list"]
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


# --- a new API from its OpenAPI document ------------------------------------------------

PETS = ROOT / "tests/data/openapi/pets.yaml"


def _generate_pets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: Path = PETS, *extra: str
) -> tuple[int, str, str]:
    return run(
        capsys,
        "apis",
        "generate",
        str(source),
        "--api",
        "pets",
        "--out",
        str(tmp_path / "defs"),
        "--schemas-out",
        str(tmp_path / "schemas"),
        *extra,
    )


def test_generate_a_new_api_then_find_it_and_use_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = _generate_pets(capsys, tmp_path)
    assert code == 0
    assert "imported 6 operations" in out
    assert f"profile: {tmp_path.as_posix()}/defs/pets/profile.yaml (generated" in out
    assert f"pass --definitions {tmp_path.as_posix()}/defs" in err  # not a default folder
    defs = str(tmp_path / "defs")
    code, out, _ = run(capsys, "apis", "search", "owner pets", "--definitions", defs)
    assert code == 0 and out.splitlines()[0].startswith("pets.list_owner_pets  GET /v1/owners/")
    code, out, _ = run(capsys, "apis", "show", "pets.create_pet", "--definitions", defs)
    assert code == 0 and "Parameters (2, 1 required):" in out
    workflow = tmp_path / "wf.yaml"
    code, _, _ = run(
        capsys, "add-task", str(workflow), "--operation", "pets.list_pets", "--definitions", defs
    )
    assert code == 0 and "api: pets" in workflow.read_text()
    code, _, err = run(capsys, "validate", str(workflow), "--definitions", defs)
    assert code == 0, err


def test_generate_json_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _generate_pets(capsys, tmp_path, PETS, "--output", "json")
    payload = json.loads(out)
    assert code == 0 and payload["status"] == "ok" and payload["imported"] == 6
    assert payload["skipped"] == [] and payload["profile"].endswith("defs/pets/profile.yaml")
    assert len(payload["written"]) == 6 + 6 + 3  # definitions, schemas, index, profile, editor


def _bad_pets(tmp_path: Path, operations: tuple[str, ...]) -> Path:
    text = PETS.read_text()
    for operation_id in operations:
        text = text.replace(
            f"operationId: {operation_id}\n",
            f"operationId: {operation_id}\n      parameters: [{{$ref: '#/components/parameters/Nope'}}]\n",
        )
    source = tmp_path / "bad.yaml"
    source.write_text(text)
    return source


def test_generate_skips_bad_operations_and_says_where(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = _bad_pets(tmp_path, ("createPet", "showPetById"))
    lines = source.read_text().splitlines()
    code, out, _ = _generate_pets(capsys, tmp_path, source)
    assert code == 0
    summary = out.splitlines()
    start = summary.index("imported 4 operations, skipped 2:")
    first = next(i for i, line in enumerate(lines, 1) if "Nope" in line)
    column = lines[first - 1].index("'#/") + 1
    assert summary[start + 1] == (
        f"  {source}:{first}:{column}: POST /v1/pets: "
        "$ref '#/components/parameters/Nope' points to nothing"
    )
    second = next(i for i, line in enumerate(lines, 1) if "Nope" in line and i > first)
    assert summary[start + 2].startswith(f"  {source}:{second}:{column}: ")
    assert "GET /v1/pets/{petId}: $ref" in summary[start + 2]
    assert (tmp_path / "defs/pets/pets.list_pets.json").is_file()
    assert not (tmp_path / "defs/pets/pets.create_pet.json").exists()


def test_generate_strict_makes_a_skip_fatal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = _bad_pets(tmp_path, ("createPet",))
    code, _, err = _generate_pets(capsys, tmp_path, source, "--strict")
    assert (
        code == 2 and "POST /v1/pets: $ref '#/components/parameters/Nope' points to nothing" in err
    )
    assert not (tmp_path / "defs").exists() and not (tmp_path / "schemas").exists()


def test_generate_fails_when_no_operation_can_be_imported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "none.yaml"
    source.write_text(
        "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n"
        "  /a:\n    get:\n      parameters: [{in: query}]\n      responses: {'200': {description: ok}}\n"
    )
    code, _, err = _generate_pets(capsys, tmp_path, source)
    assert code == 2 and f"{source}:6:20: GET /a: a parameter needs a 'name'" in err
    assert not (tmp_path / "defs").exists()


def test_search_reads_the_index_and_falls_back_to_the_definitions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _generate_pets(capsys, tmp_path)
    defs = str(tmp_path / "defs")
    index = tmp_path / "defs/pets/index.jsonl"
    code, with_index, _ = run(capsys, "apis", "search", "pets", "--definitions", defs)
    assert code == 0 and with_index.count("\n") == 6
    code, listed, _ = run(capsys, "apis", "list", "--definitions", defs, "--output", "json")
    index.unlink()
    code, without_index, _ = run(capsys, "apis", "search", "pets", "--definitions", defs)
    assert without_index == with_index
    _, listed_again, _ = run(capsys, "apis", "list", "--definitions", defs, "--output", "json")
    assert listed_again == listed
    _generate_pets(capsys, tmp_path)
    # the index is what search reads: an entry says what the listing shows
    text = index.read_text().replace('"summary": "List owners"', '"summary": "Everyone who owns"')
    index.write_text(text)
    code, out, _ = run(capsys, "apis", "search", "everyone", "--definitions", defs)
    assert out.startswith("pets.list_owners  GET /v1/owners  Everyone who owns")
    index.write_text(text.replace('{"id": "pets.list_owners"', "{broken"))  # a damaged line
    code, out, _ = run(capsys, "apis", "search", "list owners", "--definitions", defs)
    rows = [line.split() for line in out.splitlines()]
    assert code == 0 and ["pets.list_owners", "GET", "/v1/owners", "List", "owners"] in rows
