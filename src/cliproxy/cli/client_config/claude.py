"""Claude Code: the ``env`` block and ``modelOverrides`` of ``~/.claude/settings.json``
(``$CLAUDE_CONFIG_DIR`` moves it).

Claude Code never asks a server for its model list: it sends its own model names, so the three
family settings map them to served models. Its default is Opus with a one-million-token window: it
then sends the Opus setting with ``[1m]`` appended and believes a 1M window, whatever
``CLAUDE_CODE_MAX_CONTEXT_TOKENS`` says — only ``CLAUDE_CODE_AUTO_COMPACT_WINDOW`` makes it compact
before the served model's real window is full. A model name it does not know also makes it print
``[claude-code:unrecognized_model]`` on stderr at every ``claude -p``; ``modelOverrides`` (a Claude
model id → the name to send) makes each served model one it knows, and the line goes away.
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
CONTEXT_SETTING = "CLAUDE_CODE_MAX_CONTEXT_TOKENS"  # the window of a model it does not know
COMPACT_SETTING = "CLAUDE_CODE_AUTO_COMPACT_WINDOW"  # the window it compacts at, 1M-context default included
OVERRIDES = "modelOverrides"
# The Claude model each family stands for in current Claude Code (its newest of each); an id an older
# Claude Code does not know is skipped by it, and the three family settings still apply.
CLAUDE_IDS = {"opus": "claude-opus-5-5", "sonnet": "claude-sonnet-5-5", "haiku": "claude-haiku-5-5"}


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
        env[CONTEXT_SETTING] = env[COMPACT_SETTING] = str(min(windows))  # one for all three: the smallest
    return env


def model_overrides(facts: ServerFacts) -> dict[str, str]:
    """Each family's Claude model id → the served model that stands in for it."""
    return {CLAUDE_IDS[family]: model for family, model in claude_families(facts).items()}


def _parse(before: str | None) -> dict[str, Any]:
    if before is None or not before.strip():
        return {}
    try:
        settings = json.loads(before)
    except ValueError as exc:
        raise SettingsError(f"is not valid JSON ({exc}); fix or move it, then run this again") from None
    blocks = ("env", OVERRIDES)
    if not isinstance(settings, dict) or not all(isinstance(settings.get(name, {}), dict) for name in blocks):
        raise SettingsError(f"is not a JSON object with `env` and `{OVERRIDES}` objects; fix or move it, then run "
                            "this again")
    return settings


def merged(before: str | None, env: dict[str, str], overrides: dict[str, str] | None = None) -> str:
    """The settings with ``env`` merged into their ``env`` block and ``overrides`` into their
    ``modelOverrides``; the same text when nothing changes, so a second run shows no diff whatever
    the file's formatting."""
    settings = _parse(before)
    wanted = {"env": env, OVERRIDES: overrides or {}}
    after = {**settings, **{name: {**settings.get(name, {}), **values} for name, values in wanted.items() if values}}
    if before is not None and after == settings:
        return before
    return json.dumps(after, indent=2, ensure_ascii=False) + "\n"


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
    overrides = model_overrides(facts)
    show = (f"{path} (merged into its \"env\" and \"{OVERRIDES}\" blocks):\n"
            + json.dumps({"env": env, OVERRIDES: overrides}, indent=2))
    notes = ("Claude Code's default model is its Opus setting; `claude --model sonnet` picks the Sonnet one, "
             "and `--model <served model>` any served model.",)
    try:
        edits = (FileEdit(path, before, merged(before, env, overrides)),)
    except SettingsError as exc:
        return Plan("claude", "Claude Code", show, tuple(env.items()), notes=notes, problem=f"{path} {exc}")
    return Plan("claude", "Claude Code", show, tuple(env.items()), edits, notes)


__all__ = ["CLAUDE_IDS", "COMPACT_SETTING", "CONTEXT_SETTING", "FAMILY_SETTINGS", "KEY_SETTINGS", "OVERRIDES",
           "SettingsError", "claude_env", "merged", "model_overrides", "plan", "settings_path"]
