"""One job: a response body to a file on disk, whole or not at all (``output.files``).

``output: {files: {path: "photos/{{ item.id }}{{ item.filename | extension }}"}}``

Each response goes to a temp file beside its path (``.NAME.<random>.part``), is
fsynced and renamed into place, so no reader ever sees a partial file at a final path,
even when the process is killed. Checked before anything is written: the status (the
task's ``expect.status``, default 2xx), ``Content-Length`` against the bytes received
(a short body is a retryable fault), and ``Content-Type`` against ``content_types``
(default: anything but an HTML page, which is a login or error page served with 200).
A file already at the path with the same bytes is left alone (``skipped: true``).

The task output records ``{path, size, sha256, content_type, skipped}`` per file,
never the URL (a pre-signed file URL is a credential).

The request goes through the connection's send path (retries, rate budget, auth) and
its origin rule (:meth:`task_runner.http.client.Client._target`): credentials only to the
connection's own origin; a file host listed in ``allowed_hosts`` is reached without
them; any other host is refused.

:mod:`task_runner.sinks.download` streams each body to disk (memory stays flat);
:func:`download` here reads a body whole, for transports that cannot stream.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from task_runner.errors import OutputError
from task_runner.http.faults import ConnectionFault
from task_runner.model import Expect, PreparedRequest, RetryPolicy, Timeout

__all__ = [
    "FileRecord",
    "FilesTally",
    "check_content_type",
    "download",
    "files_schema",
    "remove_leftovers",
    "safe_path",
    "same_file",
    "save_file",
]

DEFAULT_MAX_BYTES = 512 * 1024 * 1024


def files_schema() -> dict[str, Any]:
    """The workflow schema's ``output.files`` definition."""
    return {
        "description": "Write each response body to a file (binary downloads).",
        "type": "object",
        "additionalProperties": False,
        "required": ["path"],
        "properties": {
            "path": {
                "type": "string",
                "description": "Relative file path, a template over item, index, inputs, run.",
            },
            "content_types": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Content-Type patterns accepted (image/*); default anything but text/html.",
            },
            "max_bytes": {"type": "integer", "minimum": 1},
        },
    }


@dataclass(frozen=True)
class FileRecord:
    """One file written (or found identical): what the task output records."""

    path: str
    size: int
    sha256: str
    content_type: str
    skipped: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
            "skipped": self.skipped,
        }


class FilesTally:
    """What a task's ``output.files`` did, from its file records (``FileRecord.to_dict``,
    ``written: false`` when test-request only checked the body).

    :meth:`summary` is ``{written, skipped, checked, bytes, paths[, more]}``: files
    written, left alone (the same bytes were there), checked without writing; the bytes
    written; the first ``keep`` paths (the task's items, or its JSONL, list them all)."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self.written = self.skipped = self.checked = self.bytes = 0
        self.paths: list[str] = []
        self.more = 0

    def add(self, record: Mapping[str, Any]) -> None:
        if record.get("written") is False:
            self.checked += 1
        elif record.get("skipped"):
            self.skipped += 1
        else:
            self.written += 1
            self.bytes += int(record.get("size") or 0)
        if record.get("written") is False:
            return
        if len(self.paths) < self.keep:
            self.paths.append(str(record.get("path")))
        else:
            self.more += 1

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "written": self.written,
            "skipped": self.skipped,
            "checked": self.checked,
            "bytes": self.bytes,
            "paths": list(self.paths),
        }
        if self.more:
            data["more"] = self.more
        return data


def safe_path(rendered: str, *, task: str) -> Path:
    """``rendered`` as a relative path that stays under the current directory;
    :class:`OutputError` otherwise (a value from a response must not pick the folder)."""
    text = rendered.strip()
    parts = Path(text).parts
    if not text or Path(text).is_absolute() or ".." in parts or "\x00" in text:
        # the file's literal part was checked at load: a value (an item's field, which
        # the server sent, or an input) made the path leave its folder; not saved
        raise OutputError(
            f"task {task!r}: file path {text!r} leaves its folder (a value in it is "
            "absolute or holds '..'); the file was not saved",
            hint="build the path from ids and `| extension`, not from names the API sends",
        )
    if text.endswith(("/", os.sep)):
        raise OutputError(f"task {task!r}: file path {text!r} names a folder, not a file")
    return Path(text)


def check_content_type(content_type: str, accepted: tuple[str, ...], *, where: str) -> None:
    """Refuse a body whose type is not accepted (see the module docstring)."""
    bare = content_type.split(";")[0].strip().lower()
    if accepted:
        if not any(fnmatch.fnmatchcase(bare, p.lower()) for p in accepted):
            raise OutputError(
                f"{where}: Content-Type {bare or 'none'} is not one of {', '.join(accepted)}; "
                "not saved"
            )
    elif bare == "text/html":
        raise OutputError(
            f"{where}: answered an HTML page (Content-Type text/html), not a file; not saved",
            hint="list the types you expect in output.files.content_types if HTML is wanted",
        )


def save_file(path: Path, content: bytes, content_type: str) -> FileRecord:
    """Write ``content`` to ``path`` atomically, unless the same bytes are there."""
    digest = hashlib.sha256(content).hexdigest()
    if same_file(path, len(content), digest):
        return FileRecord(str(path), len(content), digest, content_type, True)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"writing {path} failed: {exc.strerror}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    remove_leftovers(path)
    return FileRecord(str(path), len(content), digest, content_type, False)


def same_file(path: Path, size: int, sha256: str) -> bool:
    """Whether ``path`` already holds ``size`` bytes whose SHA-256 is ``sha256``."""
    try:
        if not path.is_file() or path.stat().st_size != size:
            return False
    except OSError:
        return False
    return _sha256_of(path) == sha256


def remove_leftovers(path: Path) -> None:
    """Temp files an earlier, killed run left for the same path."""
    pattern = os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.part")
    for stale in glob.glob(pattern):
        with contextlib.suppress(OSError):
            os.unlink(stale)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    client: Any,
    request: PreparedRequest,
    *,
    retry: RetryPolicy,
    timeout: Timeout,
    expect: Expect,
    max_bytes: int = DEFAULT_MAX_BYTES,
    attempts: list[Any] | None = None,
) -> tuple[bytes, str, int]:
    """GET ``request`` through ``client``'s layers; ``(body, Content-Type, status)``.

    Raises what the send path raises (:class:`HostNotAllowedError` for a host outside
    the connection's, :class:`HTTPStatusError` for a refused status after retries) and
    :class:`ConnectionFault` (retried) for a body shorter than its ``Content-Length``.
    """
    from task_runner.http.client import _status_error
    from task_runner.http.retry import call_with_retry

    request = replace(request, headers={**request.headers, "Accept": "*/*"})
    # The client's own origin rule: credentials only to the connection's origin.
    target, credentials = client._target(request.url)
    expect = replace(expect, max_body_bytes=max_bytes)
    log: list[Any] = attempts if attempts is not None else []

    def attempt() -> Any:
        raw = client._authed(
            request, target, None, timeout, expect, retry.max_wait, None, credentials
        )
        declared = raw.headers.get("Content-Length", "")
        if expect.accepts(raw.status) and declared.isdigit() and int(declared) != len(raw.content):
            raise ConnectionFault(
                f"GET {_safe(raw.url)}: {len(raw.content)} bytes arrived of the "
                f"{declared} its Content-Length announced"
            )
        return raw

    raw = call_with_retry(
        attempt,
        policy=replace(retry, rate_headers=client.connection.rate_limit_headers),
        method="GET",
        clock=client.clock,
        attempts=log,
        rng=client.rng,
        task=request.task,
    )
    if not expect.accepts(raw.status):
        raise _status_error(request, raw, 1)
    return raw.content, str(raw.headers.get("Content-Type", "")), int(raw.status)


def _safe(url: str) -> str:
    from task_runner.http.transport import safe_url

    return safe_url(url)


def files_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``output.files`` with its defaults filled in."""
    return {
        "path": str(raw.get("path") or ""),
        "content_types": tuple(str(p) for p in raw.get("content_types") or ()),
        "max_bytes": int(raw.get("max_bytes") or DEFAULT_MAX_BYTES),
    }
