"""Recordings: what a test-request sent and got back, kept on disk and exported as HAR."""

from __future__ import annotations

from task_runner.recording.har import to_har, write_har
from task_runner.recording.store import (
    DEFAULT_ROOT,
    FORMAT,
    FORMAT_VERSION,
    RecordingInfo,
    RecordingStore,
    atomic_write_text,
)

__all__ = [
    "DEFAULT_ROOT",
    "FORMAT",
    "FORMAT_VERSION",
    "RecordingInfo",
    "RecordingStore",
    "atomic_write_text",
    "to_har",
    "write_har",
]
