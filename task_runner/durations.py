"""Durations as people write them in workflow files: ``500ms``, ``30s``, ``15m``, ``2h``, ``1d``.

>>> parse_duration("1m30s")
90.0
>>> parse_duration(2.5)
2.5
"""

from __future__ import annotations

import re

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
#: The JSON Schema pattern of a duration string (kept in step with the parser).
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d|w))+\s*$"


def parse_duration(value: object) -> float:
    """Seconds from a number or a duration string; raises ``ValueError`` when neither."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a duration must be 0 or more")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration like 30s, 15m or 2h")
    text = value.strip().replace(" ", "")
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f"{value!r} is not a duration like 500ms, 30s, 15m, 2h or 1d")
    return total


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; ``0.25`` -> ``250ms`` (for messages and logs)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{secs}s" if secs else "")
