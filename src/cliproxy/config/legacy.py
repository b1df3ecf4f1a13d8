"""CLIProxyAPI's v8 sectioned ``config.yaml``, read as the flat (v7) keys cliproxy knows.

CLIProxyAPI 8 regrouped its file into sections (``server``, ``access``, ``management``, ``oauth``,
``routing``, ``requests``, ``observability``, ``client``, ``plugins``) under ``config-version: 8``,
keeping the old flat spellings working, the v8 value winning where both are written. Its public
documentation shows the sections and a few of their fields (``server.host``, ``server.port``,
``server.tls``, ``management.allow-remote``, ``management.secret-key``); inside a section the fields
keep their v7 names. So a field is mapped by an explicit rename where one is known, else by its v7
name; a field that is neither is reported, with its section, as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECTIONS = frozenset({"server", "access", "management", "oauth", "requests", "observability", "client"})
# ``routing`` and ``plugins`` are v7 keys as well: their fields stay where they are.
RENAMES: dict[str, dict[str, str]] = {
    "management": {"allow-remote": "remote-management.allow-remote",
                   "secret-key": "remote-management.secret-key",
                   "disable-control-panel": "remote-management.disable-control-panel",
                   "panel-github-repository": "remote-management.panel-github-repository"},
    "access": {"keys": "api-keys"},
    "oauth": {"model-alias": "oauth-model-alias", "excluded-models": "oauth-excluded-models"},
}


def is_sectioned(raw: Mapping[str, Any]) -> bool:
    """A v8 file: it says so, or it has one of the sections no v7 file has."""
    version = raw.get("config-version")
    return (isinstance(version, int) and version >= 8) or any(
        isinstance(raw.get(name), Mapping) for name in SECTIONS)


def _put(out: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path, the v8 value winning over a v7 one already there."""
    *parents, last = path.split(".")
    node = out
    for part in parents:
        child = node.get(part)
        node[part] = child = dict(child) if isinstance(child, Mapping) else {}
        node = child
    node[last] = value


def flatten(raw: Mapping[str, Any], flat_keys: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    """The v7 mapping of a v8 file, and the ``section.field`` paths it could not place.

    ``flat_keys`` are the top-level v7 keys cliproxy recognises (its own and CLIProxyAPI's)."""
    out = {key: value for key, value in raw.items() if key not in SECTIONS}
    unplaced: list[str] = []
    for section in sorted(SECTIONS & raw.keys()):
        fields = raw[section]
        if not isinstance(fields, Mapping):
            unplaced.append(section)
            continue
        renames = RENAMES.get(section, {})
        for name, value in fields.items():
            target = renames.get(str(name)) or (str(name) if name in flat_keys else None)
            if target is None:
                unplaced.append(f"{section}.{name}")
            else:
                _put(out, target, value)
    return out, unplaced


__all__ = ["RENAMES", "SECTIONS", "flatten", "is_sectioned"]
