"""Lenient readers for loosely typed values: account files, token answers, backend JSON, headers.

Every reader takes whatever a JSON document, a YAML file or a header gave and returns the type
asked for, or a neutral value (``""``, ``None``, a default) when the value does not fit; none
raises. A ``bool`` is never read as a number (``True`` is not ``1`` here), and a number that is not
finite is no number. Strict validation of the config itself is pydantic's job in
``config/schema.py``; these are for data we must accept in any shape someone else wrote.
"""

from __future__ import annotations

import math
import re
from typing import Any

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_FLAGS = {"true": True, "1": True, "false": False, "0": False}

__all__ = ["as_bool", "as_count", "as_float", "as_str", "parse_duration"]


def as_str(value: Any) -> str:
    """A string as it is; anything else is ``""`` (a number is not silently turned into text)."""
    return value if isinstance(value, str) else ""


def as_count(value: Any, default: int = 0) -> int:
    """An integer that is not a bool, else ``default``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def as_float(value: Any) -> float | None:
    """A finite number from a number or a numeric string; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def as_bool(value: Any) -> bool | None:
    """A bool, or ``true``/``false``/``1``/``0`` in any case; ``None`` for anything else."""
    if isinstance(value, bool):
        return value
    return _FLAGS.get(str(value).strip().lower())


def parse_duration(value: Any) -> float | None:
    """Seconds from a number, a numeric string or a Go-style duration (``90s``, ``30m``, ``1h30m``,
    ``250ms``, ``2d``), as CPA's files and config write them; ``None`` when it is none of those or
    negative."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value >= 0 else None
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if not text or _DURATION_PART.sub("", text):
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))
