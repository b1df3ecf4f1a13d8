"""CLIProxyAPI's old flat Amp keys, read as their names under ``ampcode:``.

Before the ``ampcode:`` section existed, CLIProxyAPI configs spelled four of its keys at the top
level (``amp-upstream-url`` …). A config that still has them keeps working here: each is moved into
the section, where a key the section spells itself wins, and one warning names the new spelling so
the user can move them. The other ``ampcode`` keys never had a flat form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECTION = "ampcode"
LEGACY_KEYS = {
    "amp-upstream-url": "upstream-url",
    "amp-upstream-api-key": "upstream-api-key",
    "amp-restrict-management-to-localhost": "restrict-management-to-localhost",
    "amp-model-mappings": "model-mappings",
}


def _found(raw: Mapping[str, Any]) -> list[str]:
    return [key for key in LEGACY_KEYS if key in raw]


def lifted(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with the old keys moved under ``ampcode:`` (the section's own keys win). A section
    that is not a mapping is left for the loader to report, and the old keys with it."""
    data = dict(raw)
    found = _found(data)
    section = data.get(SECTION)
    if not found or not isinstance(section, dict | None):
        return data
    moved = {LEGACY_KEYS[key]: data.pop(key) for key in found}
    data[SECTION] = {**moved, **(section or {})}
    return data


def legacy_warnings(raw: Mapping[str, Any]) -> list[str]:
    """One warning naming each old key found and the key it is read as."""
    found = _found(raw)
    if not found:
        return []
    given = raw.get(SECTION)
    section: Mapping[str, Any] = given if isinstance(given, dict) else {}
    names = ", ".join(f"{key} → {SECTION}.{LEGACY_KEYS[key]}"
                      + (" (ignored: the section sets it too)" if LEGACY_KEYS[key] in section else "")
                      for key in found)
    return [f"old Amp keys read under `{SECTION}:`, move them there: {names}"]


__all__ = ["LEGACY_KEYS", "legacy_warnings", "lifted"]
