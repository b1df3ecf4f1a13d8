"""Amp CLI: ``amp.url`` in ``~/.config/amp/settings.json`` (``$XDG_CONFIG_HOME`` moves it), and the
key in ``AMP_API_KEY``, which Amp reads from the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cliproxy.cli.client_config.facts import ServerFacts
from cliproxy.cli.client_config.files import FileEdit, read_text
from cliproxy.cli.client_config.plan import Place, Plan

URL_SETTING = "amp.url"


def settings_path(place: Place) -> Path:
    return place.under("XDG_CONFIG_HOME", ".config") / "amp" / "settings.json"


def merged(before: str | None, url: str) -> str:
    """The settings with ``amp.url`` set; the same text when it already is. Raises ``ValueError``
    for a file that is not a JSON object."""
    settings: Any = json.loads(before) if before and before.strip() else {}
    if not isinstance(settings, dict):
        raise ValueError("is not a JSON object")
    if before is not None and settings.get(URL_SETTING) == url:
        return before
    return json.dumps({**settings, URL_SETTING: url}, indent=2, ensure_ascii=False) + "\n"


def plan(facts: ServerFacts, place: Place) -> Plan:
    path = settings_path(place)
    before = read_text(path)
    env = (("AMP_URL", facts.url), ("AMP_API_KEY", facts.key))
    show = (f"{path}:\n" + json.dumps({URL_SETTING: facts.url}, indent=2)
            + f"\nand in the environment: AMP_API_KEY={facts.key}")
    notes = ("Amp reads its key only from the environment: add `eval \"$(cliproxy env amp)\"` to your shell "
             "profile, or export AMP_API_KEY yourself.",
             "Only the classic Amp CLI (@sourcegraph/amp) runs its model calls through a local server; the "
             "current one runs them in Amp's cloud.")
    try:
        edits = (FileEdit(path, before, merged(before, facts.url)),)
    except ValueError as exc:
        return Plan("amp", "Amp CLI", show, env, notes=notes, problem=f"{path} {exc}")
    return Plan("amp", "Amp CLI", show, env, edits, notes)


__all__ = ["URL_SETTING", "merged", "plan", "settings_path"]
