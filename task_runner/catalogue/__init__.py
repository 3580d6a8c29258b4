"""The API catalogue: operation definitions generated from API references.

The first stage of the pipeline::

    reference page / OpenAPI document --generate--> task_definitions/<api>/<id>.json
                                                    schemas/<api>/<id>.schema.json
    Catalogue.load() -> get(id) -> OperationDefinition (parameters, validator())

Example::

    from task_runner.catalogue import Catalogue
    images = Catalogue.load().get("procore.images.list")
    assert images.param("Procore-Company-Id").location == "header"
"""

from __future__ import annotations

from task_runner.catalogue.catalogue import (
    Catalogue,
    OperationDefinition,
    ParameterDef,
    builtin_definitions_dir,
    repo_root,
)
from task_runner.catalogue.generator import build, check, generate
from task_runner.catalogue.opid import operation_id
from task_runner.catalogue.profile import ApiProfile, Environment
from task_runner.catalogue.schema_rules import params_schema

__all__ = [
    "ApiProfile",
    "Catalogue",
    "Environment",
    "OperationDefinition",
    "ParameterDef",
    "build",
    "builtin_definitions_dir",
    "check",
    "generate",
    "operation_id",
    "params_schema",
    "repo_root",
]
