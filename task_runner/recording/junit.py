"""One job: a task's check results as JUnit XML, the report format CI servers read.

The common shape (Jenkins, GitLab, GitHub test reporters, Azure Pipelines):
``<testsuites>`` holding one ``<testsuite>`` per task, one ``<testcase>`` per check;
a failed check has a ``<failure message="...">`` with the expected and actual values, a
check not evaluated (the status was refused) is ``<skipped>``. Text that XML 1.0 cannot
hold (control characters from a response) is dropped, so the file always parses.

Example::

    write_junit("report.xml", "procore-daily-photos.list_images", results, elapsed=0.4)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from task_runner.errors import OutputError
from task_runner.recording.store import atomic_write_text
from task_runner.runner.checks import CheckResult

__all__ = ["junit_xml", "write_junit"]

# Characters outside XML 1.0's Char production (section 2.2).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def junit_xml(
    suite: str, results: Sequence[CheckResult], *, elapsed: float = 0.0, timestamp: str = ""
) -> str:
    """The JUnit XML document for one suite (a task) of check ``results``."""
    failures = sum(1 for r in results if r.passed is False)
    skipped = sum(1 for r in results if r.passed is None)
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": "task-runner", **counts, "time": f"{elapsed:.3f}"})
    attributes = {"name": _text(suite), **counts, "skipped": str(skipped), "time": f"{elapsed:.3f}"}
    if timestamp:
        attributes["timestamp"] = _text(timestamp)
    testsuite = ET.SubElement(root, "testsuite", attributes)
    for result in results:
        case = ET.SubElement(
            testsuite,
            "testcase",
            {"classname": _text(suite), "name": _text(result.title), "time": "0"},
        )
        if result.passed is False:
            failure = ET.SubElement(
                case, "failure", {"message": _text(result.message), "type": "ExpectationError"}
            )
            failure.text = _text(
                f"{result.path}\nexpected: {result.expected}\nactual: {result.actual}"
            )
        elif result.passed is None:
            ET.SubElement(case, "skipped", {"message": _text(result.actual)})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(
    path: str | Path,
    suite: str,
    results: Sequence[CheckResult],
    *,
    elapsed: float = 0.0,
    timestamp: str = "",
) -> Path:
    """Write the report to ``path`` atomically and return the path."""
    target = Path(path)
    try:
        atomic_write_text(target, junit_xml(suite, results, elapsed=elapsed, timestamp=timestamp))
    except OSError as exc:
        raise OutputError(f"cannot write the JUnit report {target}: {exc.strerror or exc}") from exc
    return target
