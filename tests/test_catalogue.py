"""The catalogue: lazy loading, lookups with suggestions, search, profiles, validators."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from task_runner.catalogue import Catalogue, OperationDefinition, ParameterDef, generate
from task_runner.errors import LoadError, UnresolvedReferenceError

LOCATIONS_PAGE = """\
GET /rest/v1.0/projects/{project_id}/locations

Return a list of Locations in a project.

Query parameters

filtersparent_id Integer No

Parent location.
"""


@pytest.fixture
def extra(tmp_path: Path) -> Path:
    page = tmp_path / "locations.txt"
    page.write_text(LOCATIONS_PAGE)
    generate([page], "procore", tmp_path / "defs", tmp_path / "schemas")
    return tmp_path / "defs"


def test_builtin_catalogue_has_the_images_operation() -> None:
    catalogue = Catalogue.load()
    assert "procore.images.list" in catalogue.ids()
    images = catalogue.get("procore.images.list")
    assert isinstance(images, OperationDefinition)
    assert (images.method, images.path, images.api) == ("GET", "/rest/v1.0/images", "procore")
    assert len(images.parameters) == 17
    assert images.source["format"] == "reference-text"
    assert catalogue.get("procore.images.list") is images  # read once


def test_parameter_defs() -> None:
    images = Catalogue.load().get("procore.images.list")
    header = images.param("Procore-Company-Id")
    assert header is not None and header.type == "integer"
    assert header == ParameterDef("Procore-Company-Id", "header", True, {}, header.description)
    sort = images.param("sort")
    assert sort is not None and sort.schema["enum"][0] == "deleted_at" and sort.location == "query"
    trades = images.param("filters[trade_ids][]")
    assert trades is not None and trades.type == "array" and trades.style is None
    assert images.param("nope") is None


def test_unknown_id_suggests_the_closest() -> None:
    with pytest.raises(UnresolvedReferenceError) as info:
        Catalogue.load().get("procore.image.list")
    assert info.value.hint == "did you mean 'procore.images.list'?"
    assert info.value.exit_code == 2


def test_validator_is_compiled_once_and_checks_formats() -> None:
    images = Catalogue.load().get("procore.images.list")
    validator = images.validator()
    assert images.validator() is validator
    ok = {
        "Procore-Company-Id": 1,
        "project_id": 2,
        "filters[updated_at]": "2024-05-01...2024-05-02",
    }
    assert validator.is_valid(ok)
    assert not validator.is_valid({**ok, "filters[updated_at]": "2024-05-02...2024-05-01"})
    assert not validator.is_valid({**ok, "sort": "name"})


def test_extra_folders_and_search(extra: Path) -> None:
    catalogue = Catalogue.load([str(extra)])
    # the built-in catalogue also holds other APIs (tickets, payments): Procore's ids only
    assert _procore(catalogue.ids()) == ["procore.images.list", "procore.projects.locations.list"]
    locations = catalogue.get("procore.projects.locations.list")
    assert locations.param("filters[parent_id]") is not None
    assert locations.params_schema["properties"]["project_id"]["x-in"] == "path"
    # images matches too (filters[include_sublocations]) but an id match ranks first
    assert _procore(d.id for d in catalogue.search("locations")) == [
        "procore.projects.locations.list",
        "procore.images.list",
    ]
    # "projects" also matches images' project_id in its singular form; the id match ranks first
    assert _procore(d.id for d in catalogue.search("projects locations"))[0] == (
        "procore.projects.locations.list"
    )
    assert _procore(d.id for d in catalogue.search("list")) == [
        "procore.images.list",
        "procore.projects.locations.list",
    ]
    assert _procore(d.id for d in catalogue.search("filters[trade_ids] sort")) == [
        "procore.images.list"
    ]
    assert (
        _procore(d.id for d in catalogue.search("project"))[0] == "procore.projects.locations.list"
    )  # path beats param
    assert catalogue.search("nothing-like-this") == []


def _procore(ids: Iterable[str]) -> list[str]:
    return [i for i in ids if i.startswith("procore.")]


def test_a_later_folder_overrides_a_builtin_definition(tmp_path: Path) -> None:
    builtin = Catalogue.load().get("procore.images.list").to_dict()
    folder = tmp_path / "mine" / "procore"
    folder.mkdir(parents=True)
    (folder / "procore.images.list.json").write_text(json.dumps({**builtin, "summary": "Mine."}))
    assert Catalogue.load([str(tmp_path / "mine")]).get("procore.images.list").summary == "Mine."


def test_loading_is_lazy_and_bad_files_are_located(tmp_path: Path) -> None:
    (tmp_path / "procore.broken.list.json").write_text("{not json")
    catalogue = Catalogue.load([str(tmp_path)])  # nothing read yet
    assert "procore.broken.list" in catalogue.ids()
    with pytest.raises(LoadError) as info:
        catalogue.get("procore.broken.list")
    assert info.value.location is not None and info.value.location.file.endswith(
        "procore.broken.list.json"
    )


def test_procore_profile() -> None:
    profile = Catalogue.load().profile("procore")
    assert profile is not None
    assert profile.default_environment == "production"
    assert set(profile.environments) == {"production", "sandbox", "monthly_sandbox"}
    assert profile.base_url() == "https://api.procore.com"
    assert profile.token_url() == "https://login.procore.com/oauth/token"
    assert profile.base_url("sandbox") == "https://sandbox.procore.com"
    assert (
        profile.token_url("monthly_sandbox")
        == "https://login-sandbox-monthly.procore.com/oauth/token"
    )
    assert "oauth2_client_credentials" in profile.auth_kinds
    assert profile.pagination["total_header"] == "Total"
    assert profile.rate_limit["reset_header"] == "X-Rate-Limit-Reset"
    with pytest.raises(UnresolvedReferenceError, match="no environment"):
        profile.base_url("sandbx")
    assert Catalogue.load().profile("nope") is None


def test_a_profile_is_read_once_per_catalogue(tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    folder.mkdir()
    profile_file = folder / "profile.yaml"
    profile_file.write_text("environments: {prod: {api_base_url: https://api.acme.test}}\n")
    catalogue = Catalogue.load([str(tmp_path)])
    first = catalogue.profile("acme")
    profile_file.unlink()  # every workflow loaded with this catalogue asks again
    assert first is not None and catalogue.profile("acme") is first
    assert first.base_url() == "https://api.acme.test"


@pytest.mark.parametrize("query", ["photos", "Photo", "pictures", "images", "image"])
def test_search_finds_images_by_the_words_people_use(query: str) -> None:
    from task_runner.catalogue import Catalogue

    ids = [d.id for d in Catalogue.load().search(query)]
    assert ids and ids[0] == "procore.images.list"


def test_search_still_requires_every_word_to_match() -> None:
    from task_runner.catalogue import Catalogue

    assert Catalogue.load().search("photos zebra") == []
