"""The generator: deterministic files, provenance, all-or-nothing writes, ``check``; the
API's index and generated profile, stale files, skipped operations and ``strict``."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from task_runner.catalogue import Catalogue
from task_runner.catalogue.generator import build, check, generate, prepare
from task_runner.errors import DefinitionError, InputErrors

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "task_definitions/procore/reference/procore-rest-v1.0-images-get.txt"
PETS = ROOT / "tests/data/openapi/pets.yaml"

OTHER_PAGE = """\
GET /rest/v1.0/projects/{project_id}/locations

Return a list of Locations.

Query parameters

page Integer No

Page
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the committed definitions, schemas and their sources."""
    for folder in ("task_definitions", "schemas"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def _generate(repo: Path, *sources: Path) -> list[Path]:
    return generate(list(sources), "procore", repo / "task_definitions", repo / "schemas")


def test_generate_writes_definition_and_schema_with_provenance(tmp_path: Path) -> None:
    source = tmp_path / "refs" / "images.txt"
    source.parent.mkdir()
    shutil.copy(PAGE, source)
    written = _generate(tmp_path, source)
    definition_file = tmp_path / "task_definitions/procore/procore.images.list.json"
    schema_file = tmp_path / "schemas/procore/procore.images.list.schema.json"
    index_file = tmp_path / "task_definitions/procore/index.jsonl"
    editor_file = tmp_path / "schemas/procore.editor.schema.json"
    assert written == sorted([definition_file, schema_file, index_file, editor_file])
    definition = json.loads(definition_file.read_text())
    assert definition["x-source"] == {
        "file": "refs/images.txt",
        "sha256": hashlib.sha256(PAGE.read_bytes()).hexdigest(),
        "format": "reference-text",
    }
    assert definition["x-params-schema"] == "schemas/procore/procore.images.list.schema.json"
    text = definition_file.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "id": "procore.images.list"')


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = build([PAGE], "procore", tmp_path / "a", tmp_path / "s", root=ROOT)
    second = build([PAGE], "procore", tmp_path / "a", tmp_path / "s", root=ROOT)
    assert first == second


def test_committed_files_are_what_generation_gives() -> None:
    files = build([PAGE], "procore", ROOT / "task_definitions", ROOT / "schemas", root=ROOT)
    assert files  # the committed pair exists and matches byte for byte
    for path, text in files.items():
        assert path.read_text(encoding="utf-8") == text, path


def test_check_is_clean_on_the_committed_files() -> None:
    assert check(ROOT) == []


def test_check_lists_edited_and_stale_files(repo: Path) -> None:
    schema = repo / "schemas/procore/procore.images.list.schema.json"
    schema.write_text(schema.read_text().replace('"Page"', '"Page number"'))
    assert check(repo) == ["schemas/procore/procore.images.list.schema.json"]
    page = repo / "task_definitions/procore/reference/procore-rest-v1.0-images-get.txt"
    page.write_text(page.read_text().replace("Elements per page", "Items per page"))
    assert check(repo) == [
        "schemas/procore.editor.schema.json",  # it carries the parameter's description
        "schemas/procore/procore.images.list.schema.json",
        "task_definitions/procore/procore.images.list.json",
    ]


def test_check_lists_a_definition_its_source_no_longer_gives(repo: Path) -> None:
    page = repo / "task_definitions/procore/reference/procore-rest-v1.0-images-get.txt"
    page.write_text(page.read_text().replace("GET /rest/v1.0/images", "GET /rest/v1.0/photos", 1))
    differing = check(repo)
    assert "task_definitions/procore/procore.images.list.json" in differing
    assert "task_definitions/procore/procore.photos.list.json" in differing


def test_nothing_is_written_when_one_source_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("GET /rest/v1.0/x\n\nSummary.\n\nQuery parameters\n\na Widget No\n")
    with pytest.raises(DefinitionError) as info:
        _generate(tmp_path, PAGE, bad)
    assert str(info.value).startswith(f"{bad}:7:3: unknown type")
    assert not (tmp_path / "task_definitions").exists() and not (tmp_path / "schemas").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"GET /x\n\x00\x01\x02", "binary"),
        (b"GET /x\n\nsum\xff\n", "not UTF-8"),
        (None, "cannot read"),
    ],
    ids=["binary", "latin1", "missing"],
)
def test_unreadable_sources(tmp_path: Path, content: bytes | None, words: str) -> None:
    source = tmp_path / "page.txt"
    if content is not None:
        source.write_bytes(content)
    with pytest.raises(DefinitionError) as info:
        _generate(tmp_path, source)
    assert words in info.value.message
    assert info.value.location is not None and info.value.location.file == str(source)
    assert info.value.exit_code == 2


def test_the_same_operation_twice_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="generated twice"):
        _generate(tmp_path, PAGE, PAGE)


def test_several_sources_one_run(tmp_path: Path) -> None:
    other = tmp_path / "locations.txt"
    other.write_text(OTHER_PAGE)
    written = _generate(tmp_path, PAGE, other)
    names = sorted(p.name for p in written)
    assert names == [
        "index.jsonl",
        "procore.editor.schema.json",
        "procore.images.list.json",
        "procore.images.list.schema.json",
        "procore.projects.locations.list.json",
        "procore.projects.locations.list.schema.json",
    ]
    locations = json.loads(
        (tmp_path / "task_definitions/procore/procore.projects.locations.list.json").read_text()
    )
    assert [p["name"] for p in locations["parameters"]] == ["project_id", "page"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_body_field_named_like_a_parameter_is_keyed_body_dot(tmp_path: Path) -> None:
    page = tmp_path / "create.txt"
    page.write_text(
        "POST /rest/v1.0/images\n\nCreate image.\n\nQuery parameters\n\nproject_id Integer Yes\n\n"
        "Request body fields\n\nproject_id Integer No\nname String Yes\n"
    )
    _generate(tmp_path, page)
    schema = json.loads(
        (tmp_path / "schemas/procore/procore.images.create.schema.json").read_text()
    )
    assert schema["properties"]["project_id"]["x-in"] == "query"
    assert schema["properties"]["body.project_id"] == {
        "type": "integer",
        "x-in": "body",
        "x-name": "project_id",
    }
    assert schema["required"] == ["project_id", "name"]


# --- the index, generated profiles, stale files, skips ---------------------------------


def test_the_index_lists_every_operation_of_the_folder(tmp_path: Path) -> None:
    other = tmp_path / "locations.txt"
    other.write_text(OTHER_PAGE)
    _generate(tmp_path, PAGE)
    _generate(tmp_path, other)  # a second run keeps what the first one wrote
    index = tmp_path / "task_definitions/procore/index.jsonl"
    lines = [json.loads(line) for line in index.read_text().splitlines()]
    assert lines[0] == {
        "format": "task-runner catalogue index",
        "version": 1,
        "api": "procore",
        "operations": 2,
    }
    assert [line["id"] for line in lines[1:]] == [
        "procore.images.list",
        "procore.projects.locations.list",
    ]
    assert lines[2] == {
        "id": "procore.projects.locations.list",
        "api": "procore",
        "method": "GET",
        "path": "/rest/v1.0/projects/{project_id}/locations",
        "summary": "Return a list of Locations.",
        "description": "",
        "params": ["project_id", "page"],
    }


def test_check_lists_an_edited_or_missing_index(repo: Path) -> None:
    index = repo / "task_definitions/procore/index.jsonl"
    index.write_text(index.read_text().replace("Return a list", "List"))
    assert check(repo) == ["task_definitions/procore/index.jsonl"]
    index.unlink()
    assert check(repo) == ["task_definitions/procore/index.jsonl"]


def test_a_hand_written_profile_is_never_overwritten(tmp_path: Path) -> None:
    profile = tmp_path / "task_definitions/pets/profile.yaml"
    profile.parent.mkdir(parents=True)
    profile.write_text("# mine\nenvironments: {prod: {api_base_url: https://pets.test}}\n")
    generation = prepare([PETS], "pets", tmp_path / "task_definitions", tmp_path / "schemas")
    assert generation.kept_profile == profile and generation.profile is None
    assert profile not in generation.files
    generate([PETS], "pets", tmp_path / "task_definitions", tmp_path / "schemas")
    assert profile.read_text().startswith("# mine")
    for name in ("profile.json", "profile.yml"):  # any hand-written profile counts
        other = tmp_path / name / "task_definitions/pets" / name
        other.parent.mkdir(parents=True)
        other.write_text('{"environments": {"p": {"api_base_url": "https://x"}}}')
        result = prepare([PETS], "pets", tmp_path / name / "task_definitions", tmp_path / "s")
        assert result.kept_profile == other and not any(
            p.name.startswith("profile") for p in result.files
        )


def test_a_generated_profile_is_regenerated_and_checked(tmp_path: Path) -> None:
    shutil.copy(PETS, tmp_path / "pets.yaml")
    _generate_pets = lambda: generate(  # noqa: E731
        [tmp_path / "pets.yaml"], "pets", tmp_path / "task_definitions", tmp_path / "schemas"
    )
    _generate_pets()
    profile = tmp_path / "task_definitions/pets/profile.yaml"
    first = profile.read_text()
    assert first.splitlines()[0] == "# Generated by task-runner apis generate from pets.yaml."
    profile.write_text(first.replace("api_key", "bearer"))
    assert check(tmp_path) == ["task_definitions/pets/profile.yaml"]
    _generate_pets()  # still marked as generated: rewritten
    assert profile.read_text() == first and check(tmp_path) == []
    profile.write_text(first.split("\n", 1)[1].replace("api_key", "bearer"))  # mark removed
    _generate_pets()
    assert "bearer" in profile.read_text() and check(tmp_path) == []


def test_operations_a_source_no_longer_gives_are_removed(tmp_path: Path) -> None:
    source = tmp_path / "pets.yaml"
    source.write_text(PETS.read_text().replace("operationId: listOwners", "operationId: getOwners"))
    _generate_pets = lambda: generate(  # noqa: E731
        [source], "pets", tmp_path / "task_definitions", tmp_path / "schemas"
    )
    _generate_pets()
    old = tmp_path / "task_definitions/pets/pets.get_owners.json"
    old_schema = tmp_path / "schemas/pets/pets.get_owners.schema.json"
    assert old.is_file() and old_schema.is_file()
    source.write_text(PETS.read_text())
    assert {  # every definition differs too: the source's sha256 changed
        "schemas/pets/pets.list_owners.schema.json",
        "task_definitions/pets/index.jsonl",
        "task_definitions/pets/pets.get_owners.json",
        "task_definitions/pets/pets.list_owners.json",
    } <= set(check(tmp_path))
    generation = prepare([source], "pets", tmp_path / "task_definitions", tmp_path / "schemas")
    assert sorted(generation.stale) == sorted([old, old_schema])
    _generate_pets()
    assert not old.exists() and not old_schema.exists()
    assert "pets.get_owners" not in Catalogue.load([tmp_path / "task_definitions"]).ids()
    assert check(tmp_path) == []


BAD_PETS = PETS.read_text().replace(
    'schema: {$ref: "#/components/schemas/Owner"}', 'schema: {$ref: "#/components/schemas/Nope"}'
)


def test_skipped_operations_are_reported_and_strict_makes_them_fatal(tmp_path: Path) -> None:
    source = tmp_path / "pets.yaml"
    source.write_text(
        BAD_PETS.replace(
            'data: {type: array, items: {$ref: "#/components/schemas/Owner"}}',
            'data: {type: array, items: {$ref: "#/components/schemas/Nope"}}',
        ).replace(
            "    delete:\n      summary: Delete a pet",
            "    delete:\n      parameters: [{in: query}]",
        )
    )
    generation = prepare([source], "pets", tmp_path / "d", tmp_path / "s")
    assert generation.operations == 5
    [error] = generation.skipped
    assert error.path == "DELETE /v1/pets/{petId}" and "needs a 'name'" in error.message
    assert error.location is not None and error.location.file == str(source)
    assert (
        error.location.line
        == source.read_text().splitlines().index("      parameters: [{in: query}]") + 1
    )
    with pytest.raises(DefinitionError):
        generate([source], "pets", tmp_path / "d", tmp_path / "s", strict=True)
    assert not (tmp_path / "d").exists()
    two = source.read_text().replace(
        "operationId: createPet", "operationId: createPet\n      parameters: [{in: query}]"
    )
    source.write_text(two)
    with pytest.raises(InputErrors) as info:
        prepare([source], "pets", tmp_path / "d", tmp_path / "s", strict=True)
    assert [e.path for e in info.value] == ["POST /v1/pets", "DELETE /v1/pets/{petId}"]
