"""HAR export: every attempt as an entry, valid against the HAR 1.2 schema the tests own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from task_runner.cli import main
from task_runner.emulator import Emulator
from task_runner.recording.har import to_har
from task_runner.recording.store import FORMAT
from task_runner.redact import REDACTOR

SCHEMA = json.loads((Path(__file__).parent / "data" / "har-1.2.schema.json").read_text())
VALIDATOR = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)
INPUTS = ["-i", "company_id=8089", "-i", "project_id=777"]

WORKFLOW = """\
name: har-check
inputs:
  company_id: {type: integer}
  project_id: {type: integer}
connections:
  procore:
    api: procore
    base_url: "{{ env.PROCORE_BASE_URL }}"
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
      per_page: 3
    paginate: all
    retry: {max_attempts: 3, initial_interval: 10ms, max_interval: 10ms}
"""


def _errors(har: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(har)]


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    """A test-request whose first attempt got a 503: (recording, har file, client secret)."""
    monkeypatch.chdir(tmp_path)
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(WORKFLOW)
    with Emulator(faults="503:retry-after=0@1") as em:
        for key, value in em.env().items():
            monkeypatch.setenv(key, value)
        options = ["--pages", "2", "--har", "photos.har", "--output", "json"]
        code = main(["test-request", str(workflow), "-t", "photos", *INPUTS, *options])
        secret = em.client_secret
    assert code == 0
    [recording] = sorted((tmp_path / "recordings").rglob("*.json"))
    return recording, tmp_path / "photos.har", secret


def test_har_is_valid_and_holds_every_attempt(recorded: tuple[Path, Path, str]) -> None:
    recording_path, har_path, secret = recorded
    har = json.loads(har_path.read_text())
    assert _errors(har) == []
    recording = json.loads(recording_path.read_text())
    token, *entries = har["log"]["entries"]  # the token request first, then every try
    assert token["request"]["method"] == "POST" and token["response"]["status"] == 200
    assert [e["response"]["status"] for e in entries] == [503, 200, 200]
    assert len(entries) == len(recording["attempts"])
    assert entries[0]["response"]["content"]["text"]  # the 503's own body
    for entry, page in zip(entries[1:], recording["responses"], strict=True):
        assert json.loads(entry["response"]["content"]["text"]) == page["body"]
        assert entry["response"]["content"]["mimeType"].startswith("application/json")
    request = entries[1]["request"]
    assert {"name": "Authorization", "value": "Bearer ***"} in request["headers"]
    assert {"name": "project_id", "value": "777"} in request["queryString"]
    assert secret not in har_path.read_text()


def test_recordings_har_command_writes_the_same_export(
    recorded: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording_path, har_path, _ = recorded
    assert main(["recordings", "har", "har-check/photos", "--out", "again.har"]) == 0
    again = json.loads((tmp_path / "again.har").read_text())
    first = json.loads(har_path.read_text())
    assert again == first
    capsys.readouterr()
    assert main(["recordings", "har", str(recording_path)]) == 0
    assert json.loads(capsys.readouterr().out) == first


def test_an_unwritable_har_path_is_an_error_not_a_crash(
    recorded: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("a file, so no folder can be made here")
    capsys.readouterr()
    code = main(["recordings", "har", "har-check/photos", "--out", "taken/x.har"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot write the HAR file taken/x.har" in err
    assert "internal error" not in err


_text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=20)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_exchange = st.fixed_dictionaries(
    {
        "started_at": st.just("2026-11-27T22:43:17.366Z"),
        "method": st.sampled_from(["GET", "POST", "PATCH"]),
        "url": st.just("https://api.procore.com/rest/v1.0/images?project_id=777"),
        "query": st.lists(st.tuples(_text, _text), max_size=3),
        "request_headers": st.dictionaries(_text, _text, max_size=3),
        "request_body": _json,
        "status": st.none() | st.integers(100, 599),
        "reason": _text,
        "response_headers": st.dictionaries(_text, _text, max_size=3),
        "body": _json,
        "elapsed": st.floats(0, 100, allow_nan=False),
        "error": st.none() | _text,
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_exchange, max_size=4))
def test_any_recording_exports_valid_har(exchanges: list[dict[str, Any]]) -> None:
    recording = {"format": FORMAT, "task": "t", "responses": [], "attempts": exchanges}
    har = to_har(recording)
    assert _errors(har) == []
    assert len(har["log"]["entries"]) == len(exchanges)


def test_secrets_registered_after_recording_are_masked_in_the_har() -> None:
    secret = "late-registered-secret-31337"
    exchange = {
        "started_at": "2026-11-27T22:43:17.366Z",
        "method": "GET",
        "url": f"https://api.procore.com/x?key={secret}",
        "request_headers": {"X-Key": secret},
        "status": 200,
        "reason": "OK",
        "response_headers": {},
        "body": {"echo": secret},
    }
    REDACTOR.add(secret)
    text = json.dumps(to_har({"task": "t", "responses": [], "attempts": [exchange]}))
    assert secret not in text and "***" in text
