"""prepare: ``Preparer.prepare`` per task vs the bare calls it is built on.

The task is ``list_images`` from ``examples/workflows/procore_images.yaml`` (five
params, three of them templates, one a date-range filter). The runner side calls
``Preparer.prepare`` (render, coerce, validate, build the request, locate errors).
The baseline makes only the essential calls: each template's already-compiled Jinja
function on the same context, then the operation's already-compiled jsonschema
validator on the rendered params. The ratio is what the runner's bookkeeping costs.
"""

from __future__ import annotations

from typing import Any

from benchmarks._common import ROOT, Result, paired_times

NAME, UNIT, GOAL, LIMIT = "prepare", "x", "<= 1.5x", 1.5
WORKFLOW = ROOT / "examples" / "workflows" / "procore_images.yaml"
TASK = "list_images"
ENVIRON = {"PROCORE_CLIENT_ID": "bench-id", "PROCORE_CLIENT_SECRET": "bench-secret"}


def run(quick: bool) -> Result:
    from task_runner.workflow import load_workflow
    from task_runner.workflow.prepare import Preparer, RunContext
    from task_runner.workflow.templating import is_template

    workflow = load_workflow(WORKFLOW)
    run_context = RunContext.now(workflow.name, lookback=workflow.window.initial_lookback)
    inputs = {"company_id": 8089, "project_id": 777}
    preparer = Preparer(workflow, inputs, run_context, environ=ENVIRON)
    task = workflow.task(TASK)
    operation = workflow.operation(task)
    assert operation is not None
    validator = operation.validator()
    engine = workflow.templates
    compiled = {
        key: engine.compile(value) if is_template(value) else None
        for key, value in task.params.items()
    }
    context = preparer.context

    def bare() -> None:
        values: dict[str, Any] = {
            key: fn(context) if fn is not None else task.params[key] for key, fn in compiled.items()
        }
        errors = list(validator.iter_errors(values))
        assert not errors, errors

    calls = 20 if quick else 5_000
    repeats = 1 if quick else 3
    preparer.prepare(TASK)  # connection rendered once per run, as in a real run
    bare()

    def many_prepares() -> None:
        for _ in range(calls):
            preparer.prepare(TASK)

    def many_bare() -> None:
        for _ in range(calls):
            bare()

    prepare_total, bare_total = paired_times(many_prepares, many_bare, repeats)
    prepare_time, bare_time = prepare_total / calls, bare_total / calls
    ratio = prepare_time / bare_time
    return Result(
        NAME,
        ratio,
        UNIT,
        bare_time,
        GOAL,
        None if quick else ratio <= LIMIT,
        measured=prepare_time,
        detail=f"per task: Preparer.prepare {prepare_time * 1e6:.0f} us, "
        f"compiled Jinja + jsonschema {bare_time * 1e6:.0f} us",
    )
