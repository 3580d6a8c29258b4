"""A Procore-sized OpenAPI document (2,636 operations on 1,743 paths) imports whole.

The document is the benchmarks' synthetic one (``benchmarks/catalogue.py``); these tests
check behaviour only (every operation, unique ids, the colliding pairs, search, check).
``python -m benchmarks --only catalogue`` measures the times.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.catalogue import COLLIDING, OPERATIONS, PATHS, synthetic_document, write_document
from task_runner.catalogue import Catalogue
from task_runner.catalogue.generator import Generation, check, prepare, write
from task_runner.catalogue.openapi import read_openapi

API = "procore"
PAIRS = [
    (
        "procore.projects.disbursements.validate.create",
        "procore.projects.disbursements.validate.create_by_disbursement_id",
    ),
    (
        "procore.projects.requisitions.sync.create",
        "procore.projects.requisitions.sync.create_by_requisition_id",
    ),
    ("procore.projects.reports.summary.list", "procore.projects.reports.summary.list_by_report_id"),
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Generation]:
    root = tmp_path_factory.mktemp("scale")
    source = write_document(root / "openapi.json")
    generation = prepare([source], API, root / "task_definitions", root / "schemas")
    write(generation)
    return root, generation


def test_the_synthetic_document_has_the_size_of_procores() -> None:
    document = synthetic_document()
    assert len(document["paths"]) == PATHS == 1_743
    assert sum(len(item) for item in document["paths"].values()) == OPERATIONS == 2_636
    assert len(COLLIDING) == len(PAIRS)
    assert synthetic_document(120, 180) == synthetic_document(120, 180)  # deterministic


def test_every_operation_is_imported_with_a_unique_id(imported: tuple[Path, Generation]) -> None:
    root, generation = imported
    assert generation.skipped == [] and generation.operations == OPERATIONS
    ids = list(generation.definitions)
    assert len(ids) == len(set(ids)) == OPERATIONS
    files = list((root / "task_definitions" / API).glob("*.json"))
    assert len(files) == OPERATIONS
    assert len(list((root / "schemas" / API).glob("*.schema.json"))) == OPERATIONS


def test_the_colliding_pairs_are_both_present(imported: tuple[Path, Generation]) -> None:
    _, generation = imported
    for first, second in PAIRS:
        assert first in generation.definitions and second in generation.definitions
    validate = generation.definitions[PAIRS[0][1]]
    assert (validate.method, validate.path) == (
        "POST",
        "/rest/v1.0/projects/{project_id}/disbursements/{disbursement_id}/validate",
    )


def test_the_catalogue_searches_and_shows_it(imported: tuple[Path, Generation]) -> None:
    root, _ = imported
    catalogue = Catalogue.load([root / "task_definitions"])
    # its GET /rest/v1.0/images replaces the built-in procore.images.list (a later folder wins)
    assert len([i for i in catalogue.ids() if i.startswith("procore.")]) == OPERATIONS
    assert catalogue.get("procore.images.list").source["format"] == "openapi"
    found = [e.id for e in catalogue.search_entries("photos")]
    assert found[0].startswith("procore.images.")  # images is the subject; fewest segments
    assert found.index("procore.images.list") < found.index("procore.images.attachments.list")
    assert "procore.projects.images.list" in found
    assert all("image" in i or "photo" in i for i in found)
    assert found.index("procore.projects.images.list") < found.index(
        "procore.companies.image_categories.list"
    )
    entry = catalogue.entry(PAIRS[0][1])
    definition = catalogue.get(PAIRS[0][1])
    assert (entry.method, entry.path, entry.summary) == (
        definition.method,
        definition.path,
        definition.summary,
    )
    assert definition.validator().is_valid(
        {"Procore-Company-Id": 1, "project_id": 2, "disbursement_id": 3}
    )


def test_the_generated_profile_and_check(imported: tuple[Path, Generation]) -> None:
    root, _ = imported
    profile = Catalogue.load([root / "task_definitions"]).profile(API)
    assert profile is not None and profile.file.endswith("profile.yaml")
    assert profile.pagination == {
        "style": "page",
        "page_param": "page",
        "per_page_param": "per_page",
        "total_header": "Total",
    }
    assert profile.items == "" and profile.auth_kinds == (
        "oauth2_client_credentials",
        "oauth2_refresh_token",
    )
    assert check(root) == []


def test_a_bad_operation_in_a_large_json_document_is_skipped_and_located(tmp_path: Path) -> None:
    document = synthetic_document()
    path = "/rest/v1.0/projects/{project_id}/disbursements/{disbursement_id}/validate"
    document["paths"][path]["post"]["parameters"].append({"$ref": "#/components/parameters/Nope"})
    text = json.dumps(document, indent=1)
    result = read_openapi(text, "big.json", API)
    assert len(result.definitions) == OPERATIONS - 1
    [error] = result.skipped
    assert error.path == f"POST {path}"
    line = next(
        i for i, text_line in enumerate(text.splitlines(), 1) if "parameters/Nope" in text_line
    )
    assert error.location is not None and error.location.line == line
    # the pair's other half keeps the id the rule gives it
    assert "procore.projects.disbursements.validate.create" in {d["id"] for d in result.definitions}
