"""One template budget per task (its connection included) and per validate run: many
values that each stay under the per-value limit cannot add up to a memory bomb."""

from __future__ import annotations

from pathlib import Path

import pytest

from task_runner.cli import main
from tests.runs_support import restore_logging

_logging = pytest.fixture(autouse=True)(restore_logging)


@pytest.mark.timeout(60)
def test_many_big_values_add_up_to_one_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = "\n".join(f"      X-H{n}: \"{{{{ 'a' * 999999 }}}}\"" for n in range(40))
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        f"""\
name: many
connections:
  api:
    base_url: http://127.0.0.1:9
    headers:
{headers}
tasks:
  t:
    connection: api
    request: {{method: GET, url: /x}}
""",
        encoding="utf-8",
    )
    code = main(["run", str(wf)])
    captured = capsys.readouterr()
    assert code == 2
    assert "TASK_RUNNER_MAX_TEMPLATE_CHARS" in captured.err + captured.out
