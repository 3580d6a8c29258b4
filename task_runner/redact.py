"""Keep secrets out of everything the runner prints or writes.

Every value that comes through ``secrets.NAME``, every token the auth layer obtains and
every credential in a connection is registered with a :class:`Redactor`; every string
that leaves the process (stdout, stderr, logs, recordings, HAR files, the state
database, error messages) goes through :meth:`Redactor.redact` first.

The process-wide :data:`REDACTOR` is the default, so that a value registered anywhere is
redacted everywhere::

    REDACTOR.add(os.environ["PROCORE_CLIENT_SECRET"])
    print(REDACTOR.redact(text))
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "REDACTOR", "SENSITIVE_HEADERS", "RedactingLogFilter", "Redactor"]

MASK = "***"

#: Header names whose values are never shown, whatever they hold.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)

#: Shorter values are not registered: masking every "a" would make output unreadable.
MIN_SECRET_LENGTH = 4


class Redactor:
    """A thread-safe set of secret strings and the ways they may appear in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in secrets:
            self.add(value)

    def add(self, value: object) -> None:
        """Register a secret (and its URL-encoded and base64 forms)."""
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        forms = {value, quote(value, safe=""), quote_plus(value)}
        forms.add(base64.b64encode(value.encode()).decode().rstrip("="))
        with self._lock:
            if forms <= self._values:
                return
            self._values |= {f for f in forms if len(f) >= MIN_SECRET_LENGTH}
            # Longest first, so that a secret containing another is masked whole.
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value in self._values

    def __bool__(self) -> bool:
        return bool(self._values)

    def contains_secret(self, text: str) -> bool:
        pattern = self._pattern
        return bool(pattern and pattern.search(text))

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered secret replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Mask sensitive headers entirely and secrets inside any other header."""
        out: dict[str, str] = {}
        for name, value in headers.items():
            if name.lower() in SENSITIVE_HEADERS:
                scheme = value.split(" ", 1)[0] if " " in value else ""
                out[name] = f"{scheme} {MASK}" if scheme else MASK
            else:
                out[name] = self.redact(str(value))
        return out

    def redact_obj(self, obj: Any) -> Any:
        """Deep-redact strings inside JSON-like data (dicts, lists, tuples, scalars)."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            return {self.redact(str(k)): self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.redact_obj(v) for v in obj]
        return obj


#: The process-wide redactor: secrets registered here are masked in all output.
REDACTOR = Redactor()


class RedactingLogFilter(logging.Filter):
    """Attach to a log handler: messages and tracebacks go through :data:`REDACTOR`.

    The traceback too: a logged exception's text would otherwise be printed again, raw,
    as the traceback's last line; the formatter uses the filled-in ``exc_text``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = REDACTOR.redact(record.getMessage())
        record.args = None
        if isinstance(record.exc_info, tuple) and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = REDACTOR.redact(record.exc_text)
        return True
