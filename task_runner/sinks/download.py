"""One job: stream one response body into a file, through a connection's rules.

The body goes chunk by chunk into a temp file beside its final path while its SHA-256 is
computed, so memory stays flat whatever the file's size (``max_bytes`` caps it). The
layers are the connection's own, one concern each, as in :mod:`task_runner.http.client`:

    retry (call_with_retry) -> auth (401 -> new token, once) -> throttle -> one GET,
    redirects followed by the origin rule

Where the request may go is :meth:`Client._target`'s rule, applied to the URL and to
every redirect: credentials (auth, connection headers, an API key in the query) only to
the connection's own origin; another origin only when its host is in ``allowed_hosts``,
and then without them; a URL that carries a secret never to another origin.

Checked before the file is renamed into place: the status (``expect.status``, default
2xx; others are retried or reported with the start of the body), ``Content-Type``
(:func:`~task_runner.sinks.files.check_content_type`) and ``Content-Length`` against the
bytes received (short: a retryable fault). A file already at the path with the same
bytes is left alone.

A client whose transport has no ``requests`` session (a test double, a fault injector)
is served by :func:`~task_runner.sinks.files.download`, which reads the body whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from task_runner.errors import HTTPStatusError, OutputError
from task_runner.http.faults import BodyTooLargeError, ConnectionFault, DeadlineExceeded
from task_runner.model import Expect, PreparedRequest, RetryPolicy, Timeout
from task_runner.redact import REDACTOR
from task_runner.sinks.files import (
    FileRecord,
    check_content_type,
    download,
    remove_leftovers,
    same_file,
    save_file,
)

__all__ = ["connect_cause", "stream_to_file"]

CHUNK_BYTES = 1 << 16
MAX_REDIRECTS = 10
EXCERPT_BYTES = 500
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass
class _Answer:
    """One attempt's outcome, what ``call_with_retry`` reads (``status``, ``headers``)."""

    status: int
    reason: str
    headers: Any
    url: str
    tmp: str | None = None
    size: int = 0
    sha256: str = ""
    excerpt: str = ""


def stream_to_file(
    client: Any,
    request: PreparedRequest,
    path: Path,
    *,
    retry: RetryPolicy,
    timeout: Timeout,
    expect: Expect,
    content_types: tuple[str, ...],
    max_bytes: int,
    write: bool = True,
    attempts: list[Any] | None = None,
) -> tuple[dict[str, Any], int]:
    """GET ``request`` into ``path``; ``(file record, status)``.

    ``write=False`` (test-request): the body is checked and hashed, then dropped; the
    record says ``written: false``. Raises :class:`HTTPStatusError`,
    :class:`~task_runner.http.faults.HostNotAllowedError`,
    :class:`~task_runner.http.faults.RedirectRefusedError`, :class:`OutputError`.
    """
    session = getattr(getattr(client, "transport", None), "session", None)
    if session is None:
        content, content_type, status = download(
            client,
            request,
            retry=retry,
            timeout=timeout,
            expect=expect,
            max_bytes=max_bytes,
            attempts=attempts,
        )
        check_content_type(content_type, content_types, where=f"GET {_safe(request.url)}")
        if not write:
            digest = hashlib.sha256(content).hexdigest()
            return _record(path, len(content), digest, content_type, False, False), status
        return save_file(path, content, content_type).to_dict(), status
    streamer = _Streamer(client, request, path, expect, content_types, max_bytes, timeout)
    streamer.write = write
    return streamer.run(retry, write, attempts if attempts is not None else [])


def _record(
    path: Path, size: int, digest: str, content_type: str, skipped: bool, written: bool
) -> dict[str, Any]:
    record = FileRecord(str(path), size, digest, content_type, skipped).to_dict()
    if not written:
        record["written"] = False
    return record


def _safe(url: str) -> str:
    from task_runner.http.transport import safe_url

    return safe_url(url)


class _Streamer:
    def __init__(
        self,
        client: Any,
        request: PreparedRequest,
        path: Path,
        expect: Expect,
        content_types: tuple[str, ...],
        max_bytes: int,
        timeout: Timeout,
    ) -> None:
        self.client = client
        self.request = replace(request, headers={**request.headers, "Accept": "*/*"})
        self.path = path
        self.expect = expect
        self.content_types = content_types
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.write = True  # False: hash the body, write nothing (test-request)

    def run(
        self, retry: RetryPolicy, write: bool, attempts: list[Any]
    ) -> tuple[dict[str, Any], int]:
        from task_runner.http.retry import call_with_retry

        target, credentials = self.client._target(self.request.url)  # the origin rule
        answer: _Answer = call_with_retry(
            lambda: self._attempt(target, credentials, retry.max_wait),
            policy=replace(retry, rate_headers=self.client.connection.rate_limit_headers),
            method="GET",
            clock=self.client.clock,
            attempts=attempts,
            rng=self.client.rng,
            task=self.request.task,
        )
        if not self.expect.accepts(answer.status):
            raise self._status_error(answer)
        content_type = str(answer.headers.get("Content-Type", ""))
        try:
            if not write or answer.tmp is None:
                return _record(
                    self.path, answer.size, answer.sha256, content_type, False, False
                ), answer.status
            if same_file(self.path, answer.size, answer.sha256):
                return _record(
                    self.path, answer.size, answer.sha256, content_type, True, True
                ), answer.status
            os.replace(answer.tmp, self.path)
            answer.tmp = None
        except OSError as exc:
            raise OutputError(f"writing {self.path} failed: {exc.strerror}") from None
        finally:
            _discard(answer.tmp)
        remove_leftovers(self.path)
        record = _record(self.path, answer.size, answer.sha256, content_type, False, True)
        return record, answer.status

    # --- one attempt ------------------------------------------------------------------

    def _attempt(self, target: str, credentials: bool, max_wait: float) -> _Answer:
        client = self.client
        headers = client._headers(self.request, credentials)
        params = None
        if credentials:
            sent = {**headers, **client.auth.headers()}
            params = client._auth_params(None)
        else:
            sent = headers
        response = self._get(target, sent, params, credentials, max_wait)
        if response.status_code == 401 and credentials and client.auth.on_unauthorized(sent):
            response.close()
            sent = {**headers, **client.auth.headers()}
            response = self._get(target, sent, params, credentials, max_wait)
        with response:
            return self._read(response)

    def _get(
        self, url: str, headers: dict[str, str], params: Any, credentials: bool, max_wait: float
    ) -> Any:
        """One GET, its redirects followed by the origin rule; the streaming response."""
        import requests

        from task_runner.http.faults import RedirectRefusedError
        from task_runner.http.transport import without_credentials

        client = self.client
        transport = client.transport
        client.throttle.wait_turn(max_wait=max_wait, on_wait=None)
        for _ in range(MAX_REDIRECTS + 1):
            # proxies (NO_PROXY honoured) and verify, as the transport sends
            settings = transport.session.merge_environment_settings(
                url, transport.proxies_for(url), True, None, None
            )
            try:
                response = transport.session.get(
                    url,
                    headers=headers,
                    params=params,
                    allow_redirects=False,
                    timeout=self.timeout.as_requests(),
                    **settings,
                )
            except requests.exceptions.RequestException as exc:
                raise ConnectionFault(f"GET {_safe(url)}: {connect_cause(exc, url)}") from None
            client.throttle.observe(response.status_code, response.headers)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECTS or not location:
                return response
            response.close()
            hop = urljoin(response.url, location)
            try:
                hop, allowed = client._target(hop)
            except Exception as exc:
                raise RedirectRefusedError(
                    f"GET {_safe(url)} was redirected ({response.status_code}) where the "
                    f"connection does not allow: {exc}"
                ) from None
            if not (allowed and credentials):
                # the request's own headers only: no auth, no connection headers
                headers = without_credentials(self.client._headers(self.request, False))
                params, credentials = None, False
            url = hop
        raise ConnectionFault(f"GET {_safe(url)}: more than {MAX_REDIRECTS} redirects")

    def _read(self, response: Any) -> _Answer:
        import requests

        answer = _Answer(
            status=response.status_code,
            reason=response.reason or "",
            headers=response.headers,
            url=response.url,
        )
        if not self.expect.accepts(response.status_code):
            raw = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
            answer.excerpt = REDACTOR.redact(raw.decode("utf-8", "replace")).strip()
            return answer
        where = f"GET {_safe(response.url)}"
        check_content_type(
            str(response.headers.get("Content-Type", "")), self.content_types, where=where
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BodyTooLargeError(
                f"{where}: the file ({declared} bytes) is larger than output.files.max_bytes "
                f"({self.max_bytes}); not downloaded"
            )
        deadline = time.monotonic() + self.timeout.deadline
        digest = hashlib.sha256()
        try:
            if self.write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, answer.tmp = tempfile.mkstemp(
                    dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part"
                )
                sink: Any = os.fdopen(fd, "wb")
            else:
                sink = _Discard()
            with sink as out:
                for chunk in response.iter_content(CHUNK_BYTES):
                    answer.size += len(chunk)
                    if answer.size > self.max_bytes:
                        raise BodyTooLargeError(
                            f"{where}: the file is larger than output.files.max_bytes "
                            f"({self.max_bytes}); stopped reading"
                        )
                    if time.monotonic() > deadline:
                        raise DeadlineExceeded(
                            f"{where}: did not finish within the {self.timeout.deadline:g}s "
                            "total timeout",
                            limit=self.timeout.deadline,
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                if answer.tmp is not None:
                    os.fsync(out.fileno())
        except requests.exceptions.RequestException as exc:
            _discard(answer.tmp)
            raise ConnectionFault(
                f"{where}: the body was cut off after {answer.size} bytes ({type(exc).__name__})"
            ) from None
        except OSError as exc:
            _discard(answer.tmp)
            raise OutputError(f"writing {self.path} failed: {exc.strerror}") from None
        except BaseException:
            _discard(answer.tmp)
            raise
        encoded = response.headers.get("Content-Encoding", "").strip().lower()
        if declared.isdigit() and encoded in ("", "identity") and int(declared) != answer.size:
            _discard(answer.tmp)
            raise ConnectionFault(
                f"{where}: {answer.size} bytes arrived of the {declared} its Content-Length "
                "announced"
            )
        answer.sha256 = digest.hexdigest()
        return answer

    def _status_error(self, answer: _Answer) -> HTTPStatusError:
        message = f"GET {_safe(answer.url)} answered {answer.status} {answer.reason}".rstrip()
        if answer.excerpt:
            message += f": {answer.excerpt}"
        return HTTPStatusError(
            message,
            status=answer.status,
            reason=answer.reason,
            body_excerpt=answer.excerpt,
            url=_safe(answer.url),
            task=self.request.task,
        )


def connect_cause(exc: BaseException, url: str) -> str:
    """Why a request got no response, in words: ``connection refused by localhost:8080``,
    ``host name files.example not found``, ``connect timeout``; else the innermost
    error's type and text. Walks requests' and urllib3's wrappers (``args``, ``reason``,
    ``__cause__``, ``__context__``) down to the socket error."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    seen: set[int] = set()
    stack: list[Any] = [exc]
    innermost: BaseException = exc
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        innermost = current
        if isinstance(current, ConnectionRefusedError):
            return f"connection refused by {where} (nothing listens there)"
        if isinstance(current, socket.gaierror):
            return f"host name {parts.hostname} not found"
        if isinstance(current, ConnectionResetError):
            return f"the connection to {where} was reset"
        if isinstance(current, (TimeoutError, socket.timeout)):
            return f"timed out talking to {where}"
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(a for a in current.args if isinstance(a, BaseException))
    text = REDACTOR.redact(str(innermost)).strip()
    return f"{type(innermost).__name__} talking to {where}" + (f" ({text[:200]})" if text else "")


class _Discard:
    """A file that keeps nothing (test-request hashes a body without saving it)."""

    def __enter__(self) -> _Discard:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _discard(tmp: str | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
