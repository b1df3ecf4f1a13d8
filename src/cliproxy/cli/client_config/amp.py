"""Amp CLI (classic, ``@sourcegraph/amp``): ``amp.url`` in ``~/.config/amp/settings.json``
(``$XDG_CONFIG_HOME`` moves it), and the key where ``amp login`` keeps it.

Amp takes its URL from ``AMP_URL`` when set, else from ``amp.url``. Its key comes from
``AMP_API_KEY`` when set, else from ``~/.local/share/amp/secrets.json`` (``$XDG_DATA_HOME`` moves
it), under ``apiKey@<the URL as written>`` — one entry per server, so the user's ampcode.com key
stays beside ours. Amp has no settings key for it. Writing both files means no environment at all.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from cliproxy.cli.client_config.amp_mappings import MappingsPlan
from cliproxy.cli.client_config.facts import ServerFacts
from cliproxy.cli.client_config.files import FileEdit, read_text
from cliproxy.cli.client_config.plan import Place, Plan

URL_SETTING = "amp.url"
URL_VARIABLE, KEY_VARIABLE = "AMP_URL", "AMP_API_KEY"
NOTES = (
    "Amp reads AMP_URL and AMP_API_KEY first when they are set in its environment, then these files.",
    "Only the classic Amp CLI (@sourcegraph/amp) sends its model calls to this server (the /api/provider routes); "
    "the current one runs them in Amp's cloud.",
)
MAPPING_NOTE = ("Map the Claude models Amp asks for with ampcode.model-mappings in cliproxy's config "
                "(see docs/amp.md), or run this without --no-mappings to have them added.")


def settings_path(place: Place) -> Path:
    return place.under("XDG_CONFIG_HOME", ".config") / "amp" / "settings.json"


def secrets_path(place: Place) -> Path:
    return place.under("XDG_DATA_HOME", ".local", "share") / "amp" / "secrets.json"


def secret_name(url: str) -> str:
    """The secrets-file entry Amp reads its key for ``url`` from."""
    return f"apiKey@{url}"


def merged(before: str | None, name: str, value: str) -> str:
    """The JSON object with ``name`` set; the same text when it already is. Raises ``ValueError``
    for a file that is not a JSON object."""
    settings: Any = json.loads(before) if before and before.strip() else {}
    if not isinstance(settings, dict):
        raise ValueError("is not a JSON object")
    if before is not None and settings.get(name) == value:
        return before
    return json.dumps({**settings, name: value}, indent=2, ensure_ascii=False) + "\n"


def stored_key(place: Place, url: str) -> str:
    """The key Amp would send to ``url`` from its secrets file; ``""`` when none (or unreadable)."""
    try:
        secrets = json.loads(read_text(secrets_path(place)) or "{}")
    except ValueError:
        return ""
    value = secrets.get(secret_name(url)) if isinstance(secrets, dict) else None
    return value if isinstance(value, str) else ""


def _edit(path: Path, name: str, value: str, secret: bool = False) -> FileEdit:
    before = read_text(path)
    try:
        after = merged(before, name, value)
    except ValueError as exc:  # json's own errors are ValueErrors too
        raise ValueError(f"{path} {exc}") from None
    hidden = tuple(v for v in json.loads(after).values() if isinstance(v, str)) if secret else ()
    return FileEdit(path, before, after, hidden)


def plan(facts: ServerFacts, place: Place) -> Plan:
    env = ((URL_VARIABLE, facts.url), (KEY_VARIABLE, facts.key))
    show = (f"{settings_path(place)}:\n" + json.dumps({URL_SETTING: facts.url}, indent=2)
            + f"\n{secrets_path(place)} (Amp's key store, 0600):\n"
            + json.dumps({secret_name(facts.url): facts.key}, indent=2))
    try:
        edits = (_edit(settings_path(place), URL_SETTING, facts.url),
                 _edit(secrets_path(place), secret_name(facts.url), facts.key, secret=True))
    except ValueError as exc:
        return Plan("amp", "Amp CLI", show, env, notes=(*NOTES, MAPPING_NOTE), problem=str(exc))
    return Plan("amp", "Amp CLI", show, env, edits, (*NOTES, MAPPING_NOTE))


def with_mappings(plan: Plan, mappings: MappingsPlan) -> Plan:
    """``plan`` that also gives Amp's Claude models a home: the edit of cliproxy's config after Amp's files."""
    notes = tuple(note for note in plan.notes if note != MAPPING_NOTE) + mappings.notes
    edits = plan.edits + ((mappings.edit,) if mappings.edit is not None else ())
    return replace(plan, show=plan.show + "\n" + mappings.show, edits=edits, notes=notes)


__all__ = ["KEY_VARIABLE", "MAPPING_NOTE", "URL_SETTING", "URL_VARIABLE", "merged", "plan", "secret_name",
           "secrets_path", "settings_path", "stored_key", "with_mappings"]
