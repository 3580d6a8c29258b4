"""One job: log records as JSON lines, for log shippers (``--log-format json``).

With ``--log-format json`` every line a command writes to stderr, once its command
line is parsed, is one such object: log records, status lines (:data:`STATUS_LOGGER`:
``emulator: Procore emulator on ...``; level INFO) and the final error
(level ERROR, with ``exit_code`` and, for input errors, ``errors``: the objects of
``--output json``). Only argparse's own usage errors and ``--help`` stay text.

One object per line on stderr, after the redacting filter has masked the message::

    {"ts": "2026-11-30T06:00:00.412Z", "level": "INFO", "logger": "task_runner.scheduling",
     "message": "procore-daily-photos run 2026... succeeded: 13 items in 0.41s ...",
     "event": "run_finished", "workflow": "procore-daily-photos", "run_id": "2026...",
     "status": "succeeded", "items": 13, "next_run": "2026-12-01T06:00:00-08:00"}

Fields beyond the first four come from the ``extra=`` of the log call (see
:data:`EXTRA_FIELDS`); the scheduler sets them on each run's start and end.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from task_runner.redact import REDACTOR

__all__ = ["EXTRA_FIELDS", "STATUS_LOGGER", "JsonLogFormatter", "TextLogFormatter", "json_logs_on"]

#: The logger of status lines: shown at the default verbosity, as the bare message in
#: text format (as if printed), as an object in JSON format.
STATUS_LOGGER = "task_runner.status"

#: ``extra=`` keys copied into the JSON object when a record has them.
EXTRA_FIELDS = (
    "event",
    "workflow",
    "run_id",
    "status",
    "items",
    "elapsed",
    "scheduled_at",
    "window_start",
    "window_end",
    "next_run",
    "exit_code",
    "errors",
)


class JsonLogFormatter(logging.Formatter):
    """Format a record as one JSON object (no newline inside; ``exc`` holds a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
        data = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in EXTRA_FIELDS:
            if key in record.__dict__:
                value = record.__dict__[key]
                if isinstance(value, str):
                    value = REDACTOR.redact(value)
                elif isinstance(value, (list, dict)):  # ``errors``: the strings inside too
                    value = REDACTOR.redact_json_value(value)
                data[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class TextLogFormatter(logging.Formatter):
    """``time LEVEL logger: message``; status lines (:data:`STATUS_LOGGER`) as the bare
    message, exactly as a command printed them before they were log records."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.name == STATUS_LOGGER:
            return record.getMessage()
        return super().format(record)


def json_logs_on() -> bool:
    """Whether ``--log-format json`` configured the ``task_runner`` logger."""
    handlers = logging.getLogger("task_runner").handlers
    return any(isinstance(h.formatter, JsonLogFormatter) for h in handlers)
