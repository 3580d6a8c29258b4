"""The loaded workflow: what the YAML says, checked, as small objects.

Templated values stay templates here; :mod:`task_runner.workflow.prepare` renders them
for one run. Every object keeps the :class:`SourceLocation` of the YAML it came from.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_runner.errors import SourceLocation, UnresolvedReferenceError, did_you_mean, format_path
from task_runner.model import Expect, Pagination, RetryPolicy, Timeout

if TYPE_CHECKING:
    from task_runner.catalogue import Catalogue, OperationDefinition
    from task_runner.workflow.templating import TemplateEngine

__all__ = [
    "ConnectionSpec",
    "FilesSpec",
    "ForEachSpec",
    "InputSpec",
    "ScheduleSpec",
    "TaskSpec",
    "WindowSpec",
    "Workflow",
    "path_text",
]


def path_text(path: Sequence[Any]) -> str:
    """``["tasks", "a", "params", "x"]`` -> ``a.params.x`` (the form users read)."""
    parts = list(path)
    if len(parts) >= 2 and parts[0] == "tasks":
        parts = parts[1:]
    return format_path(parts)


@dataclass(frozen=True)
class InputSpec:
    name: str
    schema: Mapping[str, Any]
    location: SourceLocation

    @property
    def has_default(self) -> bool:
        return "default" in self.schema


@dataclass(frozen=True)
class ConnectionSpec:
    """A connection as written: ``base_url`` and ``auth`` values may be templates."""

    name: str
    data: Mapping[str, Any]
    location: SourceLocation

    @property
    def api(self) -> str | None:
        return self.data.get("api")


@dataclass(frozen=True)
class ScheduleSpec:
    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    jitter: float = 0.0
    misfire_grace: float = 300.0
    enabled: bool = True
    #: Fire times missed by more than ``misfire_grace`` (the scheduler was down):
    #: ``run_once`` runs once for all of them when it is back, ``skip`` waits for the next.
    misfire: str = "run_once"


@dataclass(frozen=True)
class WindowSpec:
    """Incremental windows, in seconds: the first run looks back ``initial_lookback``;
    each window ends ``lag`` before the run's time (a closed boundary: what was updated
    before it is already listed); ``overlap`` re-reads the end of the previous window
    (items delivered there are dropped, see ``Pagination.version``); ``max_span`` caps
    one window after an outage."""

    initial_lookback: float = 86400.0
    overlap: float = 0.0
    max_span: float | None = None
    lag: float = 60.0


FAILURE_POLICIES = ("fail_fast", "continue")


@dataclass(frozen=True)
class ForEachSpec:
    """``for_each:``: run the task once per item of ``items`` (a template that renders a
    list, or the path of a JSONL file read line by line), at most ``concurrency`` at once.

    ``on_failure``: ``fail_fast`` stops at the first failed item; ``continue`` runs every
    item and lists the failed ones; ``max_failures`` (implies continue) fails the task
    once more than that many items failed. ``key`` names the item field that identifies
    it across runs (a resumed run skips items done under the same run id); items without
    it are identified by their content.
    """

    items: str
    concurrency: int | None = None
    on_failure: str = "fail_fast"
    max_failures: int | None = None
    key: str = "id"


@dataclass(frozen=True)
class FilesSpec:
    """``output.files``: each response's body written to ``path`` (a template over
    ``item``, ``index``, ``inputs``, ``run``), relative to the current directory.

    ``content_types``: patterns (``image/*``) the response's ``Content-Type`` must match
    (default: anything but an HTML page, which is an error page in disguise);
    ``max_bytes``: the largest body taken (default 512 MiB)."""

    path: str
    content_types: tuple[str, ...] = ()
    max_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class TaskSpec:
    name: str
    location: SourceLocation
    data: Mapping[str, Any]
    operation: str | None
    connection: str | None
    params: Mapping[str, Any]
    request: Mapping[str, Any] | None
    pagination: Pagination
    retry: RetryPolicy
    timeout: Timeout
    expect: Expect
    output_jsonl: str | None
    depends_on: tuple[str, ...]
    references: frozenset[str] = frozenset()
    description: str = ""
    when: str | bool | None = None
    windowed: bool = False  # its templates read run.window_start / run.window_end
    for_each: ForEachSpec | None = None
    url: str | None = None  # a plain ``url:`` GET (a file's URL from an earlier response)
    files: FilesSpec | None = None
    #: ``output:`` sinks other than ``jsonl`` and ``files``: {kind: settings as written}
    sinks: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dependencies(self) -> frozenset[str]:
        """Explicit ``depends_on`` plus every task its templates read."""
        return frozenset(self.depends_on) | self.references


@dataclass
class Workflow:
    """A loaded, statically valid workflow. Build it with ``load_workflow``."""

    path: Path
    name: str
    description: str
    inputs: dict[str, InputSpec]
    connections: dict[str, ConnectionSpec]
    tasks: dict[str, TaskSpec]
    schedule: ScheduleSpec | None
    window: WindowSpec
    data: Mapping[str, Any]
    templates: TemplateEngine
    catalogue: Catalogue
    operations: dict[str, OperationDefinition] = field(default_factory=dict)

    def task(self, name: str) -> TaskSpec:
        try:
            return self.tasks[name]
        except KeyError:
            raise UnresolvedReferenceError(
                f"no task {name!r} in workflow {self.name!r}",
                location=SourceLocation(str(self.path)),
                hint=did_you_mean(name, self.tasks) or "tasks: " + ", ".join(self.tasks),
            ) from None

    def operation(self, task: TaskSpec) -> OperationDefinition | None:
        return self.operations.get(task.operation) if task.operation else None

    def order(self) -> list[str]:
        """Tasks in dependency order (file order among independent tasks)."""
        sorter = graphlib.TopologicalSorter(
            {n: sorted(t.dependencies) for n, t in self.tasks.items()}
        )
        position = {name: i for i, name in enumerate(self.tasks)}
        sorter.prepare()
        ordered: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            ordered.extend(ready)
            sorter.done(*ready)
        return ordered

    def upstream(self, name: str) -> list[str]:
        """All tasks ``name`` depends on, transitively, in dependency order."""
        needed: set[str] = set()
        stack = list(self.tasks[name].dependencies)
        while stack:
            dep = stack.pop()
            if dep not in needed and dep in self.tasks:
                needed.add(dep)
                stack.extend(self.tasks[dep].dependencies)
        return [n for n in self.order() if n in needed]
