"""The Codex CLI catalogue fitted to the client that asked: efforts it can load, a size it accepts.

Codex refuses a whole catalogue over 1 MiB, and a Codex client that predates an effort name fails to
load a catalogue that lists it (``max`` and ``ultra`` broke older Codex Desktop builds when they
first appeared). So an entry keeps only the efforts the client's version knows — the version Codex
sends as ``client_version`` (or its ``version`` header); a client that names none is treated as an
old one — and, when the catalogue is still too large, hidden models go first, then the ones listed
last, until it fits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import orjson

MAX_CATALOGUE_BYTES = 1024 * 1024
# The first Codex version assumed to load each of these efforts (the 0.170 line introduced them).
EFFORT_SINCE: dict[str, tuple[int, int, int]] = {"max": (0, 170, 0), "ultra": (0, 170, 0)}
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")

log = logging.getLogger(__name__)


def client_version(query: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, int, int] | None:
    """The asking client's version: ``client_version=``, else its ``version`` header."""
    for text in (query.get("client_version", ""), headers.get("version", "")):
        found = _VERSION.search(text)
        if found:
            return int(found[1]), int(found[2]), int(found[3])
    return None


def _fit_efforts(entry: dict[str, Any], version: tuple[int, int, int] | None) -> dict[str, Any]:
    levels = entry.get("supported_reasoning_levels")
    if not isinstance(levels, list):
        return entry
    kept = [lv for lv in levels if not isinstance(lv, dict) or lv.get("effort") not in EFFORT_SINCE
            or (version is not None and version >= EFFORT_SINCE[str(lv["effort"])])]
    if len(kept) == len(levels):
        return entry
    entry = {**entry, "supported_reasoning_levels": kept}
    efforts = [lv.get("effort") for lv in kept if isinstance(lv, dict)]
    if entry.get("default_reasoning_level") not in efforts and efforts:
        entry["default_reasoning_level"] = "medium" if "medium" in efforts else efforts[-1]
    return entry


def _size(entries: list[dict[str, Any]]) -> int:
    return len(orjson.dumps({"models": entries}))


def _within_limit(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if _size(entries) <= MAX_CATALOGUE_BYTES:
        return entries
    total = len(entries)
    entries = [e for e in entries if e.get("visibility") != "hide"]
    while len(entries) > 1 and _size(entries) > MAX_CATALOGUE_BYTES:
        entries.pop()
    log.warning("the Codex model catalogue was over 1 MiB; %d of %d models were left out", total - len(entries), total)
    return entries


def fit_for_client(catalogue: Mapping[str, Any], version: tuple[int, int, int] | None) -> dict[str, Any]:
    entries = [_fit_efforts(dict(entry), version) for entry in catalogue.get("models", [])]
    return {**catalogue, "models": _within_limit(entries)}


__all__ = ["EFFORT_SINCE", "MAX_CATALOGUE_BYTES", "client_version", "fit_for_client"]
