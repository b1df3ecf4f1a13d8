"""No management change may send a secret the caller was only shown masked to a new host.

The management API lists secrets masked and takes them back masked, so a client can edit an entry
without ever holding its key. Without this check that would let it read the key anyway: point the
entry's ``base-url`` at its own host, keep the masked key, and the proxy sends the real one there.
So a ``codex-api-key`` entry that moves to another ``base-url`` must carry its ``api-key`` in full.

The ChatGPT accounts' tokens have no such way back: they live in account files the caller cannot
read. The keys that decide where those tokens go — ``codex-base-url`` (access tokens),
``oauth-issuer`` (refresh tokens) and ``quota.usage-url`` (access tokens, for quota reads) — are
therefore not changed through the management API at all; the config file on the server is the
place for them. Both refusals are a 409 that says why, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cliproxy.config import edit as config_edit
from cliproxy.config.load import parse_config, parse_yaml
from cliproxy.config.schema import Config, ConfigError
from cliproxy.observe.logs import mask
from cliproxy.server.management.common import BadBody, ManagementContext, restore_masked

TOKEN_DESTINATIONS: tuple[tuple[str, Callable[[Config], str]], ...] = (
    ("codex-base-url", lambda config: config.codex_base_url),
    ("oauth-issuer", lambda config: config.oauth_issuer),
    ("quota.usage-url", lambda config: config.quota.usage_url),
)


def check_destinations(current: Config, proposed: Config) -> None:
    """Refuse a change of where the accounts' tokens are sent."""
    for name, read in TOKEN_DESTINATIONS:
        if read(current).rstrip("/") != read(proposed).rstrip("/"):
            raise BadBody(f"{name} decides where the ChatGPT accounts' tokens are sent, so the management API "
                          "does not change it; edit the config file on the server instead", 409)


def _base(entry: Any) -> str:
    return str(entry.get("base-url") or "").strip().rstrip("/")


def _masked_source(key: str, current: list[Any]) -> dict[str, Any] | None:
    """The current entry whose key ``key`` is the masked form of (not the key itself)."""
    for entry in current:
        if isinstance(entry, dict):
            real = str(entry.get("api-key") or "")
            if real and key != real and key == mask(real):
                return entry
    return None


def check_entries(sent: list[Any], current: list[Any]) -> None:
    """Refuse ``codex-api-key`` entries, as the client sent them, that take a key sent masked to
    another ``base-url`` than the entry it came from."""
    for position, entry in enumerate(sent):
        key = entry.get("api-key") if isinstance(entry, dict) else None
        if not isinstance(key, str):
            continue
        source = _masked_source(key, current)
        if source is not None and _base(entry) != _base(source):
            raise _moved(position)


def check_patch(entry: Any, update: dict[str, Any], position: int) -> None:
    """Refuse a PATCH that sets another ``base-url`` on ``entry`` without its ``api-key`` in full."""
    moved_to = update.get("base-url")
    if not isinstance(entry, dict) or not isinstance(moved_to, str) or not moved_to.strip():
        return
    if moved_to.strip().rstrip("/") == _base(entry):
        return
    key, real = update.get("api-key"), str(entry.get("api-key") or "")
    if not isinstance(key, str) or not key.strip() or (key != real and key == mask(real)):
        raise _moved(position)


def unmasked_upload(ctx: ManagementContext, doc: Any, current: Any, text: str) -> str:
    """An uploaded config document (``PUT /config.yaml``) with the secrets it sent masked put back,
    as text to save; refused (BadBody) when it would move one (module docstring)."""
    sent = doc.get("codex-api-key") if isinstance(doc, dict) else None
    known = current.get("codex-api-key") if isinstance(current, dict) else None
    if isinstance(sent, list) and isinstance(known, list):
        check_entries(sent, known)
    restore_masked(doc, current)
    proposed = config_edit.dump_document(doc, like=text)
    try:
        before = _file_config(ctx.reloader.config_text())
    except ConfigError:  # the file on disk is broken: the running config is what it said last
        before = ctx.config
    try:
        check_destinations(before, _file_config(proposed))
    except ConfigError as exc:
        raise BadBody(str(exc)) from None
    return proposed


def _file_config(text: str) -> Config:
    """What a config text says, without the environment's overrides (they apply to both sides alike)."""
    return parse_config(parse_yaml(text))


def _moved(position: int) -> BadBody:
    return BadBody(f"codex-api-key entry {position} moves to another base-url with its api-key masked; "
                   "send the api-key in full with the change, so the key goes only where its owner sends it", 409)


__all__ = ["TOKEN_DESTINATIONS", "check_destinations", "check_entries", "check_patch", "unmasked_upload"]
