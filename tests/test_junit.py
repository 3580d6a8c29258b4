"""``test-request --junit``: one testcase per check in the common JUnit XML shape, parsed
back with ``xml.etree``; any text a response holds still makes a well-formed file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from task_runner.cli import main
from task_runner.recording.junit import junit_xml
from task_runner.runner.checks import CheckResult
from tests.httpserver import Reply, TestServer

PHOTOS = [{"id": 1, "size": 0}, {"id": 2, "size": 7}]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _workflow(tmp_path: Path, url: str, expect: dict[str, Any]) -> Path:
    data = {
        "name": "ci",
        "connections": {"api": {"base_url": url}},
        "tasks": {
            "photos": {
                "connection": "api",
                "request": {"method": "GET", "url": "/photos"},
                "retry": {"max_attempts": 1},
                "expect": expect,
            }
        },
    }
    path = tmp_path / "ci.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _cases(report: Path) -> tuple[ET.Element, list[ET.Element]]:
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    return suite, suite.findall("testcase")


def test_one_testcase_per_check_and_a_failure_with_its_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expect = {
        "headers": {"Content-Type": {"matches": "json"}},
        "items": {"min": 1},
        "checks": [{"pointer": "/0/size", ">": 0}, {"pointer": "/1/id", "==": 2}],
    }
    with TestServer(lambda req: Reply(200, PHOTOS)) as server:
        wf = _workflow(tmp_path, server.url, expect)
        code = main(["test-request", str(wf), "-t", "photos", "--junit", "out/report.xml"])
    assert code == 1
    assert "junit: out/report.xml (5 check(s), 1 failed)" in capsys.readouterr().err
    suite, cases = _cases(tmp_path / "out" / "report.xml")
    assert suite.get("name") == "ci.photos"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "1", "0")
    assert [c.get("name") for c in cases] == [
        "status 2xx",
        'headers.Content-Type matches "json"',
        "items at least 1",
        "/0/size > 0",
        "/1/id == 2",
    ]
    assert all(c.get("classname") == "ci.photos" for c in cases)
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["/0/size > 0"]
    failure = failed[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "/0/size: expected > 0, got 0"
    assert failure.text == "expect.checks[0]\nexpected: > 0\nactual: 0"


def test_a_refused_status_fails_its_case_and_skips_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestServer(lambda req: Reply(404, {"errors": "gone"})) as server:
        wf = _workflow(tmp_path, server.url, {"items": {"min": 1}})
        assert main(["test-request", str(wf), "-t", "photos", "--junit", "r.xml"]) == 1
    suite, cases = _cases(tmp_path / "r.xml")
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")
    status, items = cases
    assert status.find("failure") is not None
    assert status.find("failure").get("message") == "status: expected 2xx, got 404"  # type: ignore[union-attr]
    assert items.find("skipped") is not None


def test_a_passing_run_has_no_failures(tmp_path: Path) -> None:
    with TestServer(lambda req: Reply(200, PHOTOS)) as server:
        wf = _workflow(tmp_path, server.url, {"items": {"max": 5}})
        assert main(["test-request", str(wf), "-t", "photos", "--junit", "r.xml"]) == 0
    suite, cases = _cases(tmp_path / "r.xml")
    assert suite.get("failures") == "0" and len(cases) == 2
    assert all(list(c) == [] for c in cases)


@given(st.text(), st.text(), st.booleans())
def test_any_text_makes_a_well_formed_report(subject: str, actual: str, passed: bool) -> None:
    result = CheckResult("expect.checks[0]", subject, "== 1", actual, passed)
    root = ET.fromstring(junit_xml("wf.task", [result]))
    [case] = root.iter("testcase")
    allowed = set(subject) - {c for c in subject if not _xml_char(c)}
    assert set(case.get("name") or "") <= allowed | set(" == 1")
    assert (case.find("failure") is None) is passed


def _xml_char(c: str) -> bool:
    code = ord(c)
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )
