"""Amp CLI: ``amp.url`` in ``~/.config/amp/settings.json`` (``$XDG_CONFIG_HOME`` moves it), and the
key where Amp looks for it: the ``AMP_API_KEY`` environment variable first, else its secrets file
``~/.local/share/amp/secrets.json`` (``$XDG_DATA_HOME`` moves it) under ``apiKey@<amp.url>``, the
entry ``amp login`` writes for the server it logged in to. Writing both makes a plain ``amp`` work
with no exports; ``cliproxy env amp`` gives the exports for one session."""

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


def secrets_path(place: Place) -> Path:
    return place.under("XDG_DATA_HOME", ".local", "share") / "amp" / "secrets.json"


def key_name(url: str) -> str:
    """The secrets-file entry Amp reads its key from when it talks to ``url``."""
    return f"apiKey@{url}"


def merged(before: str | None, name: str, value: str) -> str:
    """The JSON object with ``name`` set to ``value``; the same text when it already is. Raises
    ``ValueError`` for a file that is not a JSON object."""
    settings: Any = json.loads(before) if before and before.strip() else {}
    if not isinstance(settings, dict):
        raise ValueError("is not a JSON object")
    if before is not None and settings.get(name) == value:
        return before
    return json.dumps({**settings, name: value}, indent=2, ensure_ascii=False) + "\n"


def _mapping_note(facts: ServerFacts) -> str:
    """Amp's smart mode asks for Claude models by their own names; the proxy serves them only
    through mappings in its own config, which ``setup`` leaves to the user."""
    models = facts.model_ids or ("<a model this server serves>",)
    small = next((model for model in models if "mini" in model), models[0])
    return ("Amp's `smart` mode asks for Claude models (claude-opus-4-7, titles on claude-haiku-4-5-…); to serve "
            "them here, add to this server's config: ampcode.model-mappings: [{from: \"^claude-haiku\", to: "
            f"\"{small}\", regex: true}}, {{from: \"^claude-\", to: \"{models[0]}\", regex: true}}]")


def _edit(path: Path, name: str, value: str) -> FileEdit:
    before = read_text(path)
    try:
        return FileEdit(path, before, merged(before, name, value))
    except ValueError as exc:
        raise ValueError(f"{path} {exc}") from None


def plan(facts: ServerFacts, place: Place) -> Plan:
    settings, secrets = settings_path(place), secrets_path(place)
    env = (("AMP_URL", facts.url), ("AMP_API_KEY", facts.key))
    show = (f"{settings}:\n" + json.dumps({URL_SETTING: facts.url}, indent=2)
            + f"\n{secrets}:\n" + json.dumps({key_name(facts.url): facts.key}, indent=2)
            + "\n(or, for one session: AMP_URL and AMP_API_KEY in the environment)")
    notes = ("An AMP_API_KEY in the environment wins over the key in Amp's secrets file.", _mapping_note(facts),
             "Only the classic Amp CLI (@sourcegraph/amp) runs its model calls through a local server; the "
             "current one runs them in Amp's cloud.")
    try:
        edits = (_edit(settings, URL_SETTING, facts.url), _edit(secrets, key_name(facts.url), facts.key))
    except ValueError as exc:
        return Plan("amp", "Amp CLI", show, env, notes=notes, problem=str(exc))
    return Plan("amp", "Amp CLI", show, env, edits, notes)


__all__ = ["URL_SETTING", "key_name", "merged", "plan", "secrets_path", "settings_path"]
