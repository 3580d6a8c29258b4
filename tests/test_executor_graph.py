"""The executor's dependency graph against the emulator: order, concurrency, failure
propagation, and graph mistakes caught when the workflow loads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from task_runner.emulator import Emulator
from task_runner.errors import InputErrors
from task_runner.runner import ExecutionOptions, TaskObserver, TaskResult, execute
from task_runner.runner.emulated import emulated_connections
from task_runner.workflow import load_workflow
from tests.runs_support import images_task, workflow_data, write_workflow

INPUTS = {"company_id": 8089, "project_id": 777}
MISSING_PROJECT = 999_999  # the emulator answers 404


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(images=30) as em:
        yield em


class Events(TaskObserver):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []

    def task_started(self, task: str, prepared: Any) -> None:
        with self.lock:
            self.log.append(("start", task))

    def task_finished(self, task: str, result: TaskResult) -> None:
        with self.lock:
            self.log.append(("end", task))

    def index(self, event: str, task: str) -> int:
        return self.log.index((event, task))


def _run(tmp_path: Path, emulator: Emulator, tasks: dict[str, Any], **options: Any) -> Any:
    path = write_workflow(tmp_path / "wf.yaml", workflow_data("graph", tasks))
    workflow = load_workflow(path)
    opts = ExecutionOptions(
        connection_overrides=emulated_connections(workflow, emulator), **options
    )
    return execute(workflow, INPUTS, options=opts)


def test_dependencies_run_first_from_depends_on_and_template_references(
    tmp_path: Path, emulator: Emulator
) -> None:
    tasks = {
        "reads_first": images_task(
            **{"filters[id][]": "{{ tasks.first.output.items[:2] | map(attribute='id') | list }}"}
        ),
        "after_first": images_task(depends_on=["first"]),
        "first": images_task(),
    }
    events = Events()
    result = _run(tmp_path, emulator, tasks, observers=[events])
    assert result.status == "succeeded", result.error
    for later in ("reads_first", "after_first"):
        assert events.index("end", "first") < events.index("start", later)
    assert result.tasks["reads_first"].item_count == 2


def test_independent_tasks_run_at_the_same_time(tmp_path: Path, emulator: Emulator) -> None:
    # Both tasks must be inside task_started together to pass the barrier; run one
    # after the other, the first waits alone, the barrier breaks and the task fails.
    barrier = threading.Barrier(2, timeout=10)

    class Meet(TaskObserver):
        def task_started(self, task: str, prepared: Any) -> None:
            barrier.wait()

    tasks = {"left": images_task(), "right": images_task()}
    result = _run(tmp_path, emulator, tasks, observers=[Meet()], max_workers=2)
    assert result.status == "succeeded", result.error


def test_a_failed_task_skips_its_dependents_and_fails_the_run(
    tmp_path: Path, emulator: Emulator
) -> None:
    tasks = {
        "broken": images_task(MISSING_PROJECT),
        "needs_broken": images_task(depends_on=["broken"]),
        "reads_needs": images_task(
            **{
                "filters[id][]": "{{ tasks.needs_broken.output.items | map(attribute='id') | list }}"
            }
        ),
        "independent": images_task(),
    }
    result = _run(tmp_path, emulator, tasks)
    assert result.status == "failed"
    assert result.exit_code == 1
    assert result.tasks["broken"].status == "failed"
    assert result.tasks["broken"].http_status == 404
    assert result.tasks["needs_broken"].status == "skipped"
    assert "'broken'" in (result.tasks["needs_broken"].error or "")
    assert result.tasks["reads_needs"].status == "skipped"
    assert result.tasks["independent"].status == "succeeded"
    assert result.error is not None and "'broken'" in result.error


def test_a_cancelled_run_is_interrupted_not_succeeded(tmp_path: Path, emulator: Emulator) -> None:
    cancel = threading.Event()
    cancel.set()
    result = _run(tmp_path, emulator, {"only": images_task()}, cancel=cancel)
    assert result.status == "interrupted"
    assert result.tasks["only"].status == "skipped"
    assert result.exit_code == 130


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        (
            {"a": images_task(depends_on=["b"]), "b": images_task(depends_on=["a"])},
            "cycle",
        ),
        ({"a": images_task(depends_on=["nowhere"])}, "nowhere"),
        (
            {"a": images_task(**{"filters[id][]": "{{ tasks.ghost.output.items }}"})},
            "ghost",
        ),
    ],
    ids=["cycle", "dangling-depends-on", "dangling-template-reference"],
)
def test_graph_mistakes_are_input_errors_at_load(
    tmp_path: Path, tasks: dict[str, Any], message: str
) -> None:
    path = write_workflow(tmp_path / "wf.yaml", workflow_data("graph", tasks))
    with pytest.raises(InputErrors) as caught:
        load_workflow(path)
    assert message in caught.value.format()
    assert str(path) in caught.value.format()
