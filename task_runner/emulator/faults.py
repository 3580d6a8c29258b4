"""Fault injection for the emulator: a small spec language and the rule that picks a fault.

A spec is one or more rules separated by ``;``; the first rule whose selector matches a
request wins. Requests to ``GET /rest/v1.0/images`` are numbered 1, 2, 3... in the order
they arrive (retries count too), and faults apply to those requests only::

    RULE     := KIND [":" PARAM ("," PARAM)*] ["@" SELECTOR]
    PARAM    := NAME "=" VALUE
    SELECTOR := N | N "-" M | N "-" | N ("," N)* | "every=" N | "p=" FLOAT
                (no selector: every request)

Kinds and their parameters:

=================  ========================================================================
``429``            Too Many Requests, plain-text body, ``X-Rate-Limit-Remaining: 0``.
                   ``retry-after=S`` adds ``Retry-After: S``; ``retry-after-date=S`` adds it
                   as an HTTP date S seconds ahead; ``reset=S`` sets ``X-Rate-Limit-Reset``
                   to now + S (default: the retry-after value, else 1).
``500`` ``502``    That status with a short body; ``retry-after=S`` / ``retry-after-date=S``
``503`` ``504``    add ``Retry-After``.
``reset``          Close the connection without a response (TCP RST, ``SO_LINGER`` 0).
``slow``           Wait ``delay=S`` seconds (default 5), then answer normally.
``truncate``       Answer normally but send only ``bytes=N`` bytes (default half) of a body
                   whose ``Content-Length`` says more, then close the connection.
``invalid-json``   200 with ``Content-Type: application/json`` and a broken body.
``oversize``       Answer normally, padding the JSON body with spaces to ``bytes=N``.
``redirect``       302 to ``to=URL`` (default: the same request on ``localhost`` instead of
                   ``127.0.0.1``, i.e. another host); ``status=301|302|303|307|308``.
``expire-token``   The request's access token expires now: this and later requests get 401.
=================  ========================================================================

Every kind also takes ``on=images`` (the default) or ``on=token``: ``on=token`` rules apply
to ``POST /oauth/token`` requests, numbered separately (status kinds, ``reset``, ``slow``
and ``invalid-json`` only), e.g. ``503:on=token,retry-after=1@1``.

Examples: ``503:retry-after=2@3`` (the 3rd request gets 503 with ``Retry-After: 2``),
``reset@2-3;429:reset=1@every=5``, ``500@p=0.2`` (each request with probability 0.2, drawn
from the emulator's seed and the request number, so the same run repeats exactly).
An invalid spec raises :class:`~task_runner.errors.UsageError` naming the bad part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from task_runner.emulator.data import _Draws
from task_runner.errors import UsageError

__all__ = ["FAULT_KINDS", "FaultRule", "FaultSpec", "Selector", "parse_faults"]

STATUS_KINDS = ("429", "500", "502", "503", "504")
FAULT_KINDS: dict[str, frozenset[str]] = {
    **{k: frozenset({"retry-after", "retry-after-date", "reset"}) for k in STATUS_KINDS},
    "reset": frozenset(),
    "slow": frozenset({"delay"}),
    "truncate": frozenset({"bytes"}),
    "invalid-json": frozenset(),
    "oversize": frozenset({"bytes"}),
    "redirect": frozenset({"to", "status"}),
    "expire-token": frozenset(),
}
TOKEN_KINDS = (*STATUS_KINDS, "reset", "slow", "invalid-json")
TARGETS = ("images", "token")
_NUMERIC = {"retry-after", "retry-after-date", "reset", "delay", "bytes", "status"}


@dataclass(frozen=True)
class Selector:
    """Which request numbers (1-based) a rule applies to."""

    first: int = 1
    last: int | None = None  # None: no upper bound
    indices: frozenset[int] = frozenset()
    every: int = 0
    probability: float | None = None

    def matches(self, index: int, seed: int, salt: int) -> bool:
        if self.indices:
            return index in self.indices
        if self.every:
            return index % self.every == 0
        if self.probability is not None:
            return _Draws(seed, salt, index).next(1_000_000) < self.probability * 1_000_000
        return index >= self.first and (self.last is None or index <= self.last)

    def __str__(self) -> str:
        if self.indices:
            return ",".join(str(i) for i in sorted(self.indices))
        if self.every:
            return f"every={self.every}"
        if self.probability is not None:
            return f"p={self.probability}"
        if self.first == 1 and self.last is None:
            return ""
        if self.last == self.first:
            return str(self.first)
        return f"{self.first}-{'' if self.last is None else self.last}"


@dataclass(frozen=True)
class FaultRule:
    kind: str
    params: tuple[tuple[str, str], ...] = ()
    selector: Selector = field(default_factory=Selector)

    def param(self, name: str, default: str | None = None) -> str | None:
        return dict(self.params).get(name, default)

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self.param(name)
        return default if value is None else float(value)

    @property
    def target(self) -> str:
        return self.param("on", "images") or "images"

    @property
    def status(self) -> int | None:
        return int(self.kind) if self.kind in STATUS_KINDS else None

    def __str__(self) -> str:
        text = self.kind
        if self.params:
            text += ":" + ",".join(f"{k}={v}" for k, v in self.params)
        sel = str(self.selector)
        return f"{text}@{sel}" if sel else text


@dataclass(frozen=True)
class FaultSpec:
    """Parsed rules; :meth:`pick` returns the fault for request number ``index``."""

    rules: tuple[FaultRule, ...] = ()

    def pick(self, index: int, seed: int = 0, target: str = "images") -> FaultRule | None:
        for salt, rule in enumerate(self.rules):
            if rule.target == target and rule.selector.matches(index, seed, salt):
                return rule
        return None

    def __str__(self) -> str:
        return ";".join(str(r) for r in self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)


def _bad(part: str, why: str) -> UsageError:
    return UsageError(
        f"fault spec {part!r}: {why}",
        hint="write rules like 503:retry-after=2@3 or reset@2-3;429:reset=1@every=5",
    )


def _positive_int(part: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise _bad(part, f"{text!r} is not a request number (1, 2, 3...)")
    return int(text)


def _selector(part: str, text: str) -> Selector:
    text = text.strip()
    if text.startswith("every="):
        return Selector(every=_positive_int(part, text[6:]))
    if text.startswith("p="):
        try:
            p = float(text[2:])
        except ValueError:
            raise _bad(part, f"{text[2:]!r} is not a probability") from None
        if not 0.0 <= p <= 1.0:
            raise _bad(part, f"probability {p} is not between 0 and 1")
        return Selector(probability=p)
    if "," in text:
        return Selector(indices=frozenset(_positive_int(part, t.strip()) for t in text.split(",")))
    if "-" in text:
        lo, _, hi = text.partition("-")
        first = _positive_int(part, lo)
        last = _positive_int(part, hi) if hi else None
        if last is not None and last < first:
            raise _bad(part, f"range {text!r} ends before it starts")
        return Selector(first=first, last=last)
    n = _positive_int(part, text)
    return Selector(first=n, last=n)


def _params(part: str, kind: str, text: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise _bad(part, f"parameter {item!r} is not NAME=VALUE")
        if name == "on":
            if value not in TARGETS or (value == "token" and kind not in TOKEN_KINDS):
                raise _bad(part, f"{kind} cannot apply on={value}")
        elif name not in FAULT_KINDS[kind]:
            allowed = ", ".join(sorted(FAULT_KINDS[kind])) or "none"
            raise _bad(part, f"{kind} takes no parameter {name!r} (allowed: {allowed})")
        if name in _NUMERIC:
            try:
                if float(value) < 0:
                    raise ValueError
            except ValueError:
                raise _bad(part, f"{name}={value!r} is not a number of 0 or more") from None
        out.append((name, value))
    return tuple(out)


def _rule(part: str) -> FaultRule:
    body, at, sel_text = part.rpartition("@") if "@" in part else (part, "", "")
    kind, _, params = body.partition(":")
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        raise _bad(part, f"unknown fault {kind!r}; use one of {', '.join(FAULT_KINDS)}")
    if at and not sel_text.strip():
        raise _bad(part, "nothing after '@'; say which requests, like @3, @2-4 or @every=5")
    selector = _selector(part, sel_text) if at else Selector()
    return FaultRule(kind, _params(part, kind, params), selector)


def parse_faults(spec: str | FaultSpec | None) -> FaultSpec:
    """``"503:retry-after=2@3;reset@5"`` -> :class:`FaultSpec`; ``None``/``""``: no faults."""
    if spec is None:
        return FaultSpec()
    if isinstance(spec, FaultSpec):
        return spec
    parts = [p.strip() for p in spec.split(";")]
    return FaultSpec(tuple(_rule(p) for p in parts if p))
