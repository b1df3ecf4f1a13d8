"""Reasoning effort levels: how a thinking setting becomes a ``reasoning.effort`` the Codex backend accepts.

Clients ask for thinking in many ways: a model-name suffix (``gpt-5.4(high)``, ``gpt-5.4(8192)``),
a Responses ``reasoning.effort``, an Anthropic or Gemini token budget. All of them end up here as
one level name, checked against the levels the model accepts. The module knows levels only, not
models or config, so a translator can use it without loading either.

Divergence from CLIProxyAPI, on purpose: ``minimal`` (and any other real level a model lacks,
such as ``max``) is clamped to the nearest level the model supports for every client dialect;
only values that are not levels at all are a 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cliproxy.errors import bad_request

# Every reasoning level any Codex model is known to accept, weakest first. The rank is what
# "nearest supported level" is measured in.
LEVEL_ORDER: tuple[str, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra")
RANK: Mapping[str, int] = {level: rank for rank, level in enumerate(LEVEL_ORDER)}
DEFAULT_LEVELS: tuple[str, ...] = ("low", "medium", "high", "xhigh")
AUTO = "auto"  # "let the model decide": a budget of -1, or the word itself


def budget_to_level(budget: int) -> str:
    """CPA ``ConvertBudgetToLevel``: a thinking-token budget as a level name."""
    if budget == -1:
        return AUTO
    if budget < -1:
        raise bad_request(f"invalid thinking budget {budget}: use -1 (dynamic), 0 (off) or a positive "
                          "number of tokens", code="invalid_reasoning_effort")
    if budget == 0:
        return "none"
    for ceiling, level in ((512, "minimal"), (1024, "low"), (8192, "medium"), (24576, "high")):
        if budget <= ceiling:
            return level
    return "xhigh"


def suffix_setting(suffix: str) -> str | int | None:
    """A model-name suffix as a level or a budget; ``None`` when it means nothing (then it is ignored)."""
    text = suffix.strip().lower()
    if text.lstrip("-").isdigit():
        number = int(text)
        return AUTO if number == -1 else number if number >= 0 else None
    if text == AUTO or text in RANK:
        return text
    return None


def body_setting(body: Mapping[str, Any]) -> str | int | None:
    """The translated body's ``reasoning.effort``, lower-cased; ``None`` when absent or empty."""
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, Mapping):
        return None
    effort = reasoning.get("effort")
    if isinstance(effort, bool) or effort is None:
        return None
    if isinstance(effort, int):
        return effort
    return str(effort).strip().lower() or None


def nearest_level(level: str, levels: Sequence[str]) -> str:
    """The supported level closest in rank, ties to the weaker one; never ``none`` unless asked."""
    pool = [lv for lv in levels if lv != "none" and lv in RANK] or [lv for lv in levels if lv in RANK]
    return min(pool, key=lambda lv: (abs(RANK[lv] - RANK[level]), RANK[lv]))


def effort_for(setting: str | int, levels: Sequence[str] | None, model: str) -> str:
    """The effort to send for a setting, given the model's levels (``None``: a user-defined model).

    ``none`` becomes the weakest level, ``auto`` becomes ``medium``, a budget becomes a level, and
    a real level the model lacks is clamped to the nearest one it has. A value that is not a level
    at all is a 400 naming the valid levels. A model with no known levels gets the value as given.
    """
    level = budget_to_level(setting) if isinstance(setting, int) else setting
    known = [lv for lv in levels or () if lv in RANK]
    if not known or level in known:
        return level
    if level == "none":
        return min(known, key=RANK.__getitem__)
    if level == AUTO:
        return nearest_level("medium", known)
    if level in RANK:
        return nearest_level(level, known)
    raise bad_request(f'level "{level}" not supported by {model}, valid levels: {", ".join(known)}',
                      code="invalid_reasoning_effort")


def apply_effort(body: dict[str, Any], suffix: str | None, levels: Sequence[str] | None, model: str) -> None:
    """Set ``body["reasoning"]["effort"]`` from the model suffix, else from the translated body.

    A suffix that is not a level or budget is ignored, so a model name that merely ends in
    parentheses still works. Nothing is set when neither says anything.
    """
    setting = suffix_setting(suffix) if suffix is not None else None
    if setting is None:
        setting = body_setting(body)
    if setting is None:
        return
    effort = effort_for(setting, levels, model)
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        reasoning = {}
        body["reasoning"] = reasoning
    reasoning["effort"] = effort


__all__ = [
    "AUTO",
    "DEFAULT_LEVELS",
    "LEVEL_ORDER",
    "RANK",
    "apply_effort",
    "body_setting",
    "budget_to_level",
    "effort_for",
    "nearest_level",
    "suffix_setting",
]
