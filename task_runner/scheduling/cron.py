"""One job: what a cron expression means, as crontab(5) (cronie, Debian cron) means it.

The arithmetic is `cronsim <https://pypi.org/project/cronsim/>`_'s, chosen over croniter
and APScheduler 3's ``CronTrigger`` because it is the one of the three that follows cron
on the awkward days (checked by ``tests/test_dst_table.py``):

- **Day of month and day of week, both restricted** (``0 6 1 * 1``): either may match
  (crontab(5): "the command will be run when either field matches the current time").
- **Fixed-time jobs** (no ``*`` in the minute or hour field), DST as cronie handles it: a
  time in the hour skipped in spring runs once, right after the change (``30 2 * * *``
  runs at 03:00 that day); a time in the repeated hour in autumn runs once, not twice.
- **Wildcard jobs** (``*/15 * * * *``, ``0 */2 * * *``) follow the wall clock: every 15
  minutes through the repeated hour too; ``0 */2`` fires at the even local hours.

What cronie does not know is refused rather than silently given another meaning:
cronsim's extensions ``L``, ``W``, ``#`` and ``?``. cronie's macros (``@daily`` ...) are
accepted and mean their five-field form; ``@reboot`` is not a schedule.

Example::

    cron = CronExpression.parse("0 0 * * *", "America/Los_Angeles")
    cron.next_after(dt.datetime(2026, 3, 8, 8, 0, tzinfo=dt.timezone.utc))
    # datetime(2026, 3, 9, 0, 0, tzinfo=ZoneInfo('America/Los_Angeles'))
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["MACROS", "CronExpression", "CronExpressionError", "zone"]

#: cronie's macros and the five fields each stands for (crontab(5), "@" strings).
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
#: What a crontab(5) field may hold: numbers, three-letter names, ``*``, ``-``, ``/``, ``,``.
_CRONTAB_FIELD = re.compile(r"^[0-9A-Za-z*,/-]+$")
_NAMES = frozenset(
    [
        "jan",
        "feb",
        "mar",
        "apr",
        "may",
        "jun",
        "jul",
        "aug",
        "sep",
        "oct",
        "nov",
        "dec",
        "sun",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
    ]
)


class CronExpressionError(ValueError):
    """A cron expression or time zone that cannot be used; ``str()`` says why and what to do."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; raises :class:`CronExpressionError` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronExpressionError(
            f"unknown time zone {name!r}; use an IANA name such as America/Los_Angeles or UTC"
        ) from None


@dataclass(frozen=True)
class CronExpression:
    """A checked five-field expression and the zone its fields are read in."""

    expression: str
    fields: str
    timezone: str

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> CronExpression:
        """Check ``expression`` (five fields or a macro) and ``timezone``.

        Raises :class:`CronExpressionError` naming the field that is wrong.
        """
        from cronsim import CronSim, CronSimError

        text = " ".join(expression.split())
        fields = MACROS.get(text.lower(), text)
        if fields.startswith("@"):
            known = ", ".join(sorted(MACROS))
            raise CronExpressionError(f"{expression!r} is not a schedule macro (known: {known})")
        parts = fields.split()
        if len(parts) != 5:
            raise CronExpressionError(
                f"{expression!r} is not a cron expression: it needs 5 fields "
                "(minute hour day-of-month month day-of-week)"
            )
        for name, part in zip(_FIELD_NAMES, parts, strict=True):
            tokens = re.split(r"[,/-]", part)
            if not _CRONTAB_FIELD.match(part) or not all(map(_crontab_token, tokens)):
                raise CronExpressionError(
                    f"{expression!r}: {name} field {part!r} is not a crontab(5) value "
                    "(use *, N, N-M, */N, N-M/S or lists of them with ,)"
                )
        tz = zone(timezone)
        try:
            CronSim(fields, dt.datetime(2026, 1, 1, tzinfo=tz))
        except CronSimError as exc:
            raise CronExpressionError(
                f"{expression!r} is not a valid cron expression: {_reason(exc)}"
            ) from None
        return cls(expression, fields, timezone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def days_either(self) -> bool:
        """Whether day of month and day of week are both restricted (either one matches)."""
        parts = self.fields.split()
        return not parts[2].startswith("*") and not parts[4].startswith("*")

    def iter_after(self, moment: dt.datetime) -> Iterator[dt.datetime]:
        """Fire times strictly after ``moment`` (aware), in the expression's zone, ascending.

        Raises ``ValueError`` for a naive ``moment``. Ends only for expressions that never
        match (``0 0 31 2 *`` is refused by :meth:`parse`, so in practice never).
        """
        from cronsim import CronSim

        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        return iter(CronSim(self.fields, moment.astimezone(self.zone)))

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first fire time strictly after ``moment``; ``None`` if there is none."""
        return next(self.iter_after(moment), None)

    def previous_before(self, moment: dt.datetime) -> dt.datetime | None:
        """The last fire time at or before ``moment`` (a missed run after downtime)."""
        from cronsim import CronSim

        probe = moment.astimezone(self.zone) + dt.timedelta(minutes=1)
        return next(
            iter(CronSim(self.fields, probe.replace(second=0, microsecond=0), reverse=True)), None
        )

    def upcoming(self, count: int, after: dt.datetime) -> list[dt.datetime]:
        """The next ``count`` fire times after ``after``, in the expression's zone."""
        found: list[dt.datetime] = []
        for fire in self.iter_after(after):
            found.append(fire)
            if len(found) >= count:
                break
        return found

    def explain(self) -> str:
        """A sentence in English ("At 06:00 every day"), with crontab's either-day rule."""
        from cronsim import CronSim

        try:
            text = str(CronSim(self.fields, dt.datetime(2026, 1, 1, tzinfo=self.zone)).explain())
        except Exception:  # explain() is best effort; the schedule itself is checked
            text = self.fields
        if self.days_either:
            text += " (either day matches, as in crontab)"
        return text


def _crontab_token(token: str) -> bool:
    """A number, ``*`` or a three-letter month or day name (not cronsim's L, W, #, ?)."""
    return token == "*" or token.isdigit() or token.lower() in _NAMES


def _reason(exc: Exception) -> str:
    """cronsim says "Bad minute"; say which range the field takes."""
    text = str(exc)
    ranges = {
        "minute": "0-59",
        "hour": "0-23",
        "day-of-month": "1-31, and a day the month has",
        "month": "1-12 or jan-dec",
        "day-of-week": "0-7 or sun-sat",
    }
    for name, allowed in ranges.items():
        if name in text.lower():
            return f"the {name.replace('-', ' ')} field is out of range or malformed ({allowed})"
    return text
