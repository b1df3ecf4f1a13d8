"""Claude Code: the ``env`` block of ``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR`` moves it).

Claude Code never asks a server for its model list: it sends its own model names, so the three
family settings map them to served models, and ``CLAUDE_CODE_MAX_CONTEXT_TOKENS`` tells it the real
window of a model it does not know (it assumes one million tokens otherwise, and compacts too late).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cliproxy.cli.client_config.facts import ServerFacts, claude_families
from cliproxy.cli.client_config.files import FileEdit, read_text
from cliproxy.cli.client_config.plan import Place, Plan

FAMILY_SETTINGS = {"opus": "ANTHROPIC_DEFAULT_OPUS_MODEL", "sonnet": "ANTHROPIC_DEFAULT_SONNET_MODEL",
                   "haiku": "ANTHROPIC_DEFAULT_HAIKU_MODEL"}
KEY_SETTINGS = ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY")  # Bearer, or x-api-key
CONTEXT_SETTING = "CLAUDE_CODE_MAX_CONTEXT_TOKENS"


class SettingsError(ValueError):
    """The settings file is not a JSON object we can merge into (said to the user, file untouched)."""


def settings_path(place: Place) -> Path:
    return place.under("CLAUDE_CONFIG_DIR", ".claude") / "settings.json"


def claude_env(facts: ServerFacts, key_setting: str = KEY_SETTINGS[0]) -> dict[str, str]:
    """The variables, in the order a reader expects them."""
    families = claude_families(facts)
    env = {"ANTHROPIC_BASE_URL": facts.url, key_setting: facts.key}
    env.update({FAMILY_SETTINGS[family]: model for family, model in families.items()})
    windows = [facts.context_of(model) for model in families.values()]
    if windows and min(windows) > 0:
        env[CONTEXT_SETTING] = str(min(windows))  # one setting for all three: the smallest is safe
    return env


def _parse(before: str | None) -> dict[str, Any]:
    if before is None or not before.strip():
        return {}
    try:
        settings = json.loads(before)
    except ValueError as exc:
        raise SettingsError(f"is not valid JSON ({exc}); fix or move it, then run this again") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("env", {}), dict):
        raise SettingsError("is not a JSON object with an `env` object; fix or move it, then run this again")
    return settings


def merged(before: str | None, env: dict[str, str]) -> str:
    """The settings with ``env`` merged into their ``env`` block; the same text when nothing changes,
    so a second run shows no diff whatever the file's formatting."""
    settings = _parse(before)
    block = dict(settings.get("env", {}))
    block.update(env)
    if before is not None and block == settings.get("env"):
        return before
    return json.dumps({**settings, "env": block}, indent=2, ensure_ascii=False) + "\n"


def _key_setting(before: str | None) -> str:
    """The key setting the user already has, if any (both at once make Claude Code ask which)."""
    try:
        existing = _parse(before).get("env", {})
    except SettingsError:
        existing = {}
    return next((name for name in reversed(KEY_SETTINGS) if name in existing), KEY_SETTINGS[0])


def plan(facts: ServerFacts, place: Place) -> Plan:
    path = settings_path(place)
    before = read_text(path)
    env = claude_env(facts, _key_setting(before))
    show = f"{path} (merged into its \"env\" block):\n" + json.dumps({"env": env}, indent=2)
    notes = ("Claude Code's default model is its Opus setting; `claude --model sonnet` picks the Sonnet one, "
             "and `--model <served model>` any served model.",)
    try:
        edits = (FileEdit(path, before, merged(before, env)),)
    except SettingsError as exc:
        return Plan("claude", "Claude Code", show, tuple(env.items()), notes=notes, problem=f"{path} {exc}")
    return Plan("claude", "Claude Code", show, tuple(env.items()), edits, notes)


__all__ = ["CONTEXT_SETTING", "FAMILY_SETTINGS", "KEY_SETTINGS", "SettingsError", "claude_env", "merged", "plan",
           "settings_path"]
