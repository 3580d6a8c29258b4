"""The JSON contract: every object a user interface (the studio, the language server,
``--output json``) reads, built in one place from the library.

The CLI's ``--output json`` prints exactly these objects (through the redactor); the
studio serves them; the language server turns them into diagnostics. Each function
returns plain JSON-ready values (dicts, lists, str, int, float, bool, None) and reads no
command-line state. None of them redacts: redaction happens where the object leaves
the process (``task_runner.redact.REDACTOR.dumps``), so callers must send them through
it. Values are the ones the library holds (recordings are stored redacted already).

Catalogue (:mod:`task_runner.contract.catalogue`)
    ``entry_json(entry) -> {id, method, path, summary}``: one catalogue entry.
    ``entries_json(entries) -> [entry_json, ...]``: ``apis list`` / ``apis search``.
    ``search_json(catalogue, query, limit=None) -> [entry_json + {api}, ...]``.
    ``operation_json(definition) -> dict``: ``apis show --output json`` (the definition).

Validation (:mod:`task_runner.contract.validation`)
    ``error_json(error) -> {file, line, column, path, task, kind, message}``.
    ``errors_json(errors) -> [error_json, ...]``: ``validate --output json``.
    ``failure_json(exc) -> {status: "error", exit_code, errors: [...]}``: any
    :class:`~task_runner.errors.TaskRunnerError` as ``--output json`` prints it.

Test request (:mod:`task_runner.contract.test_request`)
    ``outcome_json(outcome, har_path) -> dict``: ``test-request --output json`` (status,
    exit_code, workflow, task, operation, http_status, request, responses, attempts,
    upstream, recording, output, har, error).
    ``dry_run_json(task, sent) -> {task, dry_run, request, curl}``.
    ``shown_headers(headers) -> dict``: the headers worth a glance (pagination, rate
    limits, content type, Retry-After), as ``test-request`` prints them.
    ``SHOWN_HEADERS``, ``SHOWN_PREFIXES``: the names behind it.

Run history (:mod:`task_runner.contract.runs`)
    ``runs_json(history, workflow=None, limit=20) -> [run row, ...]``: ``runs list``.
    ``run_json(history, run_id) -> dict``: ``runs show`` (raises
    :class:`~task_runner.errors.UnresolvedReferenceError` for an unknown id).

Recordings (:mod:`task_runner.contract.recordings`)
    ``recordings_json(store, workflow=None) -> {root, recordings: [...]}``.
    ``recording_json(store, ref) -> {path, ...recording}``.
    ``drift_between(store, before, after=None) -> Drift``; ``drift_json(...)`` its JSON
    (``recordings diff --output json``); without ``after``, ``before`` is compared with
    the recording of its task before it (:class:`~task_runner.errors.UsageError` if none).
"""

from __future__ import annotations

from task_runner.contract.catalogue import entries_json, entry_json, operation_json, search_json
from task_runner.contract.recordings import (
    drift_between,
    drift_json,
    recording_json,
    recordings_json,
)
from task_runner.contract.runs import run_json, runs_json
from task_runner.contract.test_request import (
    SHOWN_HEADERS,
    SHOWN_PREFIXES,
    dry_run_json,
    outcome_json,
    shown_headers,
)
from task_runner.contract.validation import error_json, errors_json, failure_json

__all__ = [
    "SHOWN_HEADERS",
    "SHOWN_PREFIXES",
    "drift_between",
    "drift_json",
    "dry_run_json",
    "entries_json",
    "entry_json",
    "error_json",
    "errors_json",
    "failure_json",
    "operation_json",
    "outcome_json",
    "recording_json",
    "recordings_json",
    "run_json",
    "runs_json",
    "search_json",
    "shown_headers",
]
