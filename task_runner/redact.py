"""Keep secrets out of everything the runner prints or writes.

Every value that comes through ``secrets.NAME``, every token the auth layer obtains and
every credential in a connection is registered with a :class:`Redactor`; every string
that leaves the process (stdout, stderr, logs, recordings, HAR files, the state
database, error messages) goes through :meth:`Redactor.redact` first.

Free text is masked with :meth:`Redactor.redact`. Data is masked with
:meth:`Redactor.redact_json_value` *before* it is serialised: only string values and
string keys are touched, never numbers, booleans or ``null``, and never JSON syntax, so
the result still serialises to valid JSON. Masking serialised JSON text instead misses a
secret holding ``"`` or ``\\`` (it appears escaped) and turns ``"size": 4032`` into
invalid JSON when the secret is ``4032``.

The process-wide :data:`REDACTOR` is the default, so that a value registered anywhere is
redacted everywhere::

    REDACTOR.add(os.environ["PROCORE_CLIENT_SECRET"], source="PROCORE_CLIENT_SECRET")
    print(REDACTOR.redact(text))
    line = json.dumps(REDACTOR.redact_json_value(item))

**Lifetimes.** A long-lived process (the scheduler, a Celery worker) must not collect the
secrets of every run it ever made: each value lives as long as what it belongs to.

* Inside ``with REDACTOR.scope():`` (one per run: the scheduler and workers open it, and
  the executor runs tasks in the opening thread's context) :meth:`Redactor.add` puts
  values in the run's scope; they are masked everywhere while the run is active and
  forgotten when it ends.
* ``add(token, expires_at=t)`` keeps a value until the wall time ``t`` (access tokens:
  a token cache shared by runs registers each token until it expires).
* Any other ``add`` is for the process's lifetime (a connection's client secret).

Adding is O(1) amortised (dictionary inserts); the matcher is rebuilt once, on the first
use after a change, from the values alive then: redaction costs what the live secrets
cost, not what the process has seen.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "REDACTOR",
    "SAFE_SECRET_LENGTH",
    "SENSITIVE_HEADERS",
    "RedactingLogFilter",
    "Redactor",
    "SecretScope",
]

log = logging.getLogger(__name__)

MASK = "***"

#: Header names whose values are never shown, whatever they hold.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)

#: Shorter values are not registered: masking every "a" would make output unreadable.
#: Every registered form is longer than :data:`MASK`, so masking always shortens text.
MIN_SECRET_LENGTH = 4

#: Shorter secrets are masked but draw a warning. A value of a few characters ("4032",
#: "admin", "test1234" is already at the edge) turns up by chance in ordinary strings:
#: file names, ids, words; masking it there hides real data. Provider-issued secrets and
#: tokens are 16 characters or more, so 8 flags only values a person chose or truncated.
SAFE_SECRET_LENGTH = 8

#: JSON keys that are not strings: ``json.dumps`` writes them as they are (numbers are
#: never masked); any other key is turned into a string and masked.
_JSON_SCALAR_KEYS = (int, float, bool, type(None))


@dataclass(frozen=True)
class _Registry:
    """One immutable snapshot of the live secrets, rebuilt after a change, so that a
    reader that takes ``self._registry`` once sees a consistent set without a lock."""

    values: frozenset[str] = frozenset()

    @functools.cached_property
    def json_forms(self) -> frozenset[str]:
        """Every form as it appears inside a JSON string, ``ensure_ascii`` on or off."""
        return frozenset(
            json.dumps(v, ensure_ascii=a)[1:-1] for v in self.values for a in (False, True)
        )

    @functools.cached_property
    def pattern(self) -> re.Pattern[str] | None:
        # Compiled on first use, not on every ``add``: compiling a large alternation is
        # slow, and secrets tend to arrive in bursts (a workflow's inputs, a token pair).
        if not self.values:
            return None
        # Longest first, so that a secret containing another is masked whole.
        alternatives = sorted(self.values, key=len, reverse=True)
        return re.compile("|".join(re.escape(v) for v in alternatives))


class SecretScope:
    """The secrets of one run: masked while the scope is open, forgotten when it closes.

    Made by :meth:`Redactor.scope`; ``len(scope)`` is how many forms it holds.
    """

    def __init__(self, redactor: Redactor, name: str) -> None:
        self.redactor = redactor
        self.name = name
        self.forms: set[str] = set()

    def __len__(self) -> int:
        return len(self.forms)

    def __repr__(self) -> str:  # never the values
        return f"<SecretScope {self.name!r}: {len(self.forms)} forms>"


#: The scope ``Redactor.add`` registers into, in this thread or task context.
_SCOPE: contextvars.ContextVar[SecretScope | None] = contextvars.ContextVar(
    "task_runner_secret_scope", default=None
)


class Redactor:
    """A thread-safe set of secret strings and the ways they may appear in text or data.

    Example::

        redactor = Redactor(["s3cr3t-value"])
        redactor.redact("token=s3cr3t-value")  # 'token=***'
        redactor.redact_json_value({"note": "s3cr3t-value", "n": 4032})  # {'note': '***', 'n': 4032}
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        # form -> wall time it expires (math.inf: the process's lifetime)
        self._process: dict[str, float] = {}
        self._scopes: dict[int, SecretScope] = {}
        self._version = 0  # bumped on every change; the snapshot records what it saw
        self._snapshot = _Registry()
        self._snapshot_version = 0
        self._next_expiry = math.inf
        # Values only ever warned about (too short to register), and masked keys already
        # reported as colliding: each is reported once.
        self._refused: set[str] = set()
        self._warned: set[str] = set()
        self._collided: set[str] = set()
        for value in secrets:
            self.add(value)

    def add(
        self, value: object, *, source: str | None = None, expires_at: float | None = None
    ) -> None:
        """Register a secret (and its URL-encoded and base64 forms). O(1) amortised.

        Where it lives: until ``expires_at`` (Unix seconds) when given; else in the
        current :meth:`scope` (a run's) when one is open in this context; else for the
        process's lifetime. ``source`` (a setting or variable name, never the value) goes
        into the warning logged once for a secret shorter than :data:`SAFE_SECRET_LENGTH`.
        """
        if not isinstance(value, str) or not value or value == MASK:
            return  # MASK: a stand-in for a secret not set (validate, --dry-run)
        if len(value) < MIN_SECRET_LENGTH:
            self._refuse(value, source)
            return
        forms = {value, quote(value, safe=""), quote_plus(value)}
        forms.add(base64.b64encode(value.encode()).decode().rstrip("="))
        scope = _SCOPE.get()
        with self._lock:
            if expires_at is not None:
                changed = self._keep_until(forms, expires_at)
            elif scope is not None and scope.redactor is self and id(scope) in self._scopes:
                changed = not forms <= scope.forms and not self._forever(forms)
                scope.forms |= forms
            else:
                changed = self._keep_until(forms, math.inf)
            if not changed:
                return
            self._version += 1
            # Once per value, not once per run that registers it again.
            warn = len(value) < SAFE_SECRET_LENGTH and value not in self._warned
            if warn:
                self._warned.add(value)
        if warn:
            log.warning(
                "a secret of %d characters%s is shorter than %d: it is masked inside every "
                "string written, so ordinary text that contains it (an id, a file name) is "
                "masked too; numbers are never masked. Use a longer secret if you can",
                len(value),
                _from(source),
                SAFE_SECRET_LENGTH,
            )

    def _forever(self, forms: set[str]) -> bool:
        return all(self._process.get(f) == math.inf for f in forms)

    def _keep_until(self, forms: set[str], expires_at: float) -> bool:
        """Keep ``forms`` until ``expires_at`` (the later one wins); True if that changed
        what is masked (a new form, or a later expiry)."""
        changed = False
        for form in forms:
            if self._process.get(form, -math.inf) < expires_at:
                changed = changed or form not in self._process
                self._process[form] = expires_at
        if expires_at < self._next_expiry:
            self._next_expiry = expires_at
        return changed

    @contextlib.contextmanager
    def scope(self, name: str = "run") -> Iterator[SecretScope]:
        """Open a run's scope: values added in this context (and in contexts copied from
        it) until the block ends are masked while it is open, then forgotten.

        Nested calls share the outer scope (a scheduler's run scope wraps the service's).
        Example::

            with REDACTOR.scope(run_id):
                run_workflow(...)
                log.info(REDACTOR.redact(summary))  # still masked here
        """
        current = _SCOPE.get()
        if current is not None and current.redactor is self and id(current) in self._scopes:
            yield current
            return
        scope = SecretScope(self, name)
        with self._lock:
            self._scopes[id(scope)] = scope
        token = _SCOPE.set(scope)
        try:
            yield scope
        finally:
            _SCOPE.reset(token)
            with self._lock:
                self._scopes.pop(id(scope), None)
                if scope.forms:
                    self._version += 1

    def live_count(self) -> int:
        """How many forms are masked now (process, unexpired, and open scopes)."""
        return len(self._registry.values)

    @property
    def _registry(self) -> _Registry:
        """The snapshot of the live secrets, rebuilt when something changed or expired."""
        snapshot = self._snapshot
        if self._snapshot_version == self._version and time.time() < self._next_expiry:
            return snapshot
        with self._lock:
            now = time.time()
            if now >= self._next_expiry:
                self._expire(now)
            if self._snapshot_version != self._version:
                values = set(self._process)
                for scope in self._scopes.values():
                    values |= scope.forms
                self._snapshot = _Registry(frozenset(values))
                self._snapshot_version = self._version
            return self._snapshot

    def _expire(self, now: float) -> None:
        expired = [form for form, until in self._process.items() if until <= now]
        for form in expired:
            del self._process[form]
        finite = [until for until in self._process.values() if until != math.inf]
        self._next_expiry = min(finite, default=math.inf)
        if expired:
            self._version += 1

    def _refuse(self, value: str, source: str | None) -> None:
        with self._lock:
            if value in self._refused:
                return
            self._refused.add(value)
        log.warning(
            "a secret of %d characters%s is too short to mask (the minimum is %d): "
            "it appears unmasked in output. Use a longer secret",
            len(value),
            _from(source),
            MIN_SECRET_LENGTH,
        )

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value in self._registry.values

    def __bool__(self) -> bool:
        return bool(self._registry.values)

    def contains_secret(self, text: str) -> bool:
        pattern = self._registry.pattern
        return bool(pattern and pattern.search(text))

    def json_secret_offsets(self, text: str) -> list[int]:
        """Where in serialised JSON ``text`` a secret may sit inside a string.

        A quick, conservative check before :meth:`redact_json_value`: ``json.dumps``
        escapes character by character, so a string holding a secret always shows the
        secret's escaped form. No offsets means no string in ``text`` holds a secret; an
        offset may be a false alarm (the secret ``4032`` in the number ``4032``).
        """
        offsets: list[int] = []
        # Plain substring search, one form after another, beats one regex alternation
        # several times over here, even with hundreds of forms.
        for form in self._registry.json_forms:
            at = text.find(form)
            while at != -1:
                offsets.append(at)
                at = text.find(form, at + 1)
        return offsets

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered secret replaced by ``***``."""
        pattern = self._registry.pattern
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

    def redact_json_value(self, obj: Any) -> Any:
        """A copy of JSON-like data with secrets masked in its strings and string keys.

        Numbers, booleans and ``None`` are left alone; tuples become lists. When masking
        makes two keys of one object equal, the later one gets a ``#2`` (``#3``...)
        suffix and a warning is logged, so no entry is lost silently::

            Redactor(["4032"]).redact_json_value({"id": 4032, "name": "IMG_4032.jpg"})
            # {'id': 4032, 'name': 'IMG_***.jpg'}
        """
        return self._walk(obj, self._registry.pattern)

    def dumps(self, obj: Any, **options: Any) -> str:
        """``json.dumps`` of ``obj`` with secrets masked in its decoded strings, never in
        the JSON text (so the result is always valid JSON); objects JSON cannot encode
        are written as their redacted ``str``. ``options`` go to ``json.dumps``."""
        return json.dumps(
            self.redact_json_value(obj), default=lambda o: self.redact(str(o)), **options
        )

    #: The older name, used throughout the runner.
    redact_obj = redact_json_value

    def _walk(self, obj: Any, pattern: re.Pattern[str] | None) -> Any:
        if isinstance(obj, str):
            return _mask(obj, pattern)
        # Cheap checks before the ABC one: this walk is on the JSONL sink's hot path.
        if obj is None or isinstance(obj, (int, float)):
            return obj
        if isinstance(obj, (list, tuple)):
            return [self._walk(v, pattern) for v in obj]
        if isinstance(obj, (dict, Mapping)):
            return self._walk_mapping(obj, pattern)
        return obj

    def _walk_mapping(
        self, obj: Mapping[Any, Any], pattern: re.Pattern[str] | None
    ) -> dict[Any, Any]:
        keys: list[Any] = [
            k if isinstance(k, _JSON_SCALAR_KEYS) else _mask(str(k), pattern) for k in obj
        ]
        if all(new is old for new, old in zip(keys, obj, strict=True)):  # nearly always
            return {key: self._walk(value, pattern) for key, value in obj.items()}
        # Keys that masking left alone keep their place; a changed key that lands on
        # one of them, or on another changed key, is renamed rather than overwriting it.
        taken = {new for old, new in zip(obj, keys, strict=True) if new is old or new == old}
        out: dict[Any, Any] = {}
        for (old, value), new in zip(obj.items(), keys, strict=True):
            if not (new is old or new == old):
                new = self._unique_key(new, taken, pattern)
                taken.add(new)
            out[new] = self._walk(value, pattern)
        return out

    def _unique_key(self, key: str, taken: set[Any], pattern: re.Pattern[str] | None) -> str:
        if key not in taken:
            return key
        n = 2
        while (candidate := _mask(f"{key}#{n}", pattern)) in taken:
            n += 1
        with self._lock:
            first = key not in self._collided
            self._collided.add(key)
        if first:
            log.warning(
                "masking secrets made two keys of one object both %r; the later one is "
                "written as %r so that neither value is lost",
                key,
                candidate,
            )
        return candidate


def _mask(text: str, pattern: re.Pattern[str] | None) -> str:
    """``text`` with no registered secret left in it.

    One pass is not always enough: masking can join its neighbours into a new
    occurrence (``x`` + ``abcd`` becomes ``x***``, itself a secret). Every form is longer
    than the mask, so every pass shortens the text and the loop ends.
    """
    if pattern is None:
        return text
    while True:
        text, count = pattern.subn(MASK, text)
        if not count:
            return text


def _from(source: str | None) -> str:
    return f" (from {source})" if source else ""


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
