"""Codex CLI: a ``[model_providers.cliproxy]`` block in ``$CODEX_HOME/config.toml`` (default
``~/.codex``), and ``model_provider`` / ``model`` pointing at it.

The block names this server's model list as the provider's ``model_catalog_url``. Codex reads model
metadata (which tools a model gets, its context window, its efforts) from a catalogue, and for a
custom provider with a key it fetches one only from that URL (``?client_version=`` appended); without
it, a model missing from the catalogue built into Codex gets Codex's fallback metadata, which offers
no ``apply_patch`` tool at all, so patches went through the shell.

Edited with tomlkit, which keeps the user's comments, order and formatting. The key goes in the
provider's ``experimental_bearer_token`` (sent as ``Authorization: Bearer``), so Codex needs no
environment variable; the file is the user's own and keeps its mode (0600 when we create it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from cliproxy.cli.client_config.facts import ServerFacts
from cliproxy.cli.client_config.files import FileEdit, read_text
from cliproxy.cli.client_config.plan import Place, Plan, Wrapper

PROVIDER = "cliproxy"
# Codex opens one WebSocket per run and sends only each turn's new items over it; the server keeps
# the conversation (server/websocket/), so this is the recommended transport.
SUPPORTS_WEBSOCKETS = True


def config_path(place: Place) -> Path:
    return place.under("CODEX_HOME", ".codex") / "config.toml"


def provider(facts: ServerFacts) -> dict[str, Any]:
    return {"name": PROVIDER, "base_url": facts.url + "/v1", "wire_api": "responses",
            "experimental_bearer_token": facts.key, "supports_websockets": SUPPORTS_WEBSOCKETS,
            "model_catalog_url": catalogue_url(facts)}


def catalogue_url(facts: ServerFacts) -> str:
    """Where Codex reads its model catalogue: our model list, which answers Codex's shape when
    the query carries ``client_version`` (Codex wants an absolute URL here)."""
    return facts.url + "/v1/models"


def _model(current: Any, facts: ServerFacts) -> str:
    """The user's model when this server serves it, else the first served one."""
    if isinstance(current, str) and current in facts.model_ids:
        return current
    return facts.model_ids[0] if facts.model_ids else "gpt-5.5"


def merged(before: str | None, facts: ServerFacts) -> str:
    """``config.toml`` pointing at this server, everything else as it was; the same text when it
    already does. Raises ``ValueError`` for a file that is not TOML."""
    try:
        document = tomlkit.parse(before or "")
    except TOMLKitError as exc:
        raise ValueError(f"is not valid TOML ({exc}); fix or move it, then run this again") from None
    document["model"] = _model(document.get("model"), facts)
    document["model_provider"] = PROVIDER
    providers = document.get("model_providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        document["model_providers"] = providers
    block = providers.get(PROVIDER)
    if block is None:
        block = tomlkit.table()
        providers[PROVIDER] = block
    for key, value in provider(facts).items():
        if block.get(key) != value:
            block[key] = value
    after = tomlkit.dumps(document)
    return before if before is not None and after == before else after


def _inline(values: dict[str, Any]) -> str:
    """A TOML inline table (JSON strings and booleans are valid TOML values)."""
    return "{" + ", ".join(f"{key} = {json.dumps(value)}" for key, value in values.items()) + "}"


def wrapper(facts: ServerFacts) -> Wrapper:
    """``codex -c …`` for one shell session: Codex takes no base URL from the environment."""
    return Wrapper("codex", ("-c", f"model_provider={json.dumps(PROVIDER)}",
                             "-c", f"model_providers.{PROVIDER}={_inline(provider(facts))}",
                             "-c", f"model={json.dumps(_model(None, facts))}"))


def plan(facts: ServerFacts, place: Place) -> Plan:
    path = config_path(place)
    before = read_text(path)
    wanted = merged(None, facts)
    show = f"{path}:\n{wanted}"
    notes = ("Codex CLI keeps one WebSocket to this server per run and sends only each turn's new items "
             f"(supports_websockets = {str(SUPPORTS_WEBSOCKETS).lower()}).",
             "Codex CLI reads its model catalogue from this server (model_catalog_url): each model's tools, "
             "such as the freeform apply_patch, its context window and its efforts.")
    try:
        edits = (FileEdit(path, before, merged(before, facts)),)
    except ValueError as exc:
        return Plan("codex", "Codex CLI", show, notes=notes, wrapper=wrapper(facts), problem=f"{path} {exc}")
    return Plan("codex", "Codex CLI", show, edits=edits, notes=notes, wrapper=wrapper(facts))


__all__ = ["PROVIDER", "SUPPORTS_WEBSOCKETS", "catalogue_url", "config_path", "merged", "plan", "provider", "wrapper"]
