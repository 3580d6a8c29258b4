"""task-runner: HTTP tasks in YAML workflows, generated from API references.

The pipeline, one module per arrow::

    reference -> catalogue.generate -> task_definitions/ + schemas/
    workflow YAML -> workflow.load -> workflow.validate -> templating.render
      -> request_builder.build -> http.send (auth, retry, throttle, paginate)
      -> recording / output

Example::

    from task_runner import load_workflow, run_workflow
    wf = load_workflow("examples/workflows/procore_images.yaml")
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
