"""Reasoning replay for Claude Code sessions: what to keep, and where it goes back.

Claude Code re-sends its history on every turn, but not always with the reasoning the backend
produced: thinking blocks get cleared or lose their signature. Without its encrypted reasoning
the model starts each turn cold. So per (model, session) the server keeps the ``reasoning`` and
tool-call items of the last completed response (``replayable_items``) and, on the next request of
that session, ``replay`` puts back what the history lacks:

- the cached reasoning items, when the input has no valid reasoning blob at all — placed just
  before the first item of the previous answer (its first tool call, else the last assistant
  message); without such an anchor nothing is inserted, since a blob in the wrong place is
  worse than none;
- a cached tool call whose ``function_call_output`` is present but whose call is missing.

Both are pure functions of plain items. The memory between turns (bounded, expiring, read with
a clock) is the server's ``ReasoningReplayCache``: a translator keeps no state across requests.
"""

from __future__ import annotations

import copy

from cliproxy.dialects.anthropic.response import client_tool_id
from cliproxy.dialects.base import JSON
from cliproxy.responses.blob import looks_like_codex_blob

_CALL_TYPES = ("function_call", "custom_tool_call")
_OUTPUT_TYPES = ("function_call_output", "custom_tool_call_output")


def _comparable_ids(call_id: object) -> set[str]:
    """An upstream call id and the form Claude Code saw (sanitised, shortened)."""
    if not isinstance(call_id, str) or not call_id:
        return set()
    return {call_id, client_tool_id(call_id)}


def _replayable(item: object) -> bool:
    if not isinstance(item, dict):
        return False
    if item.get("type") == "reasoning":
        return looks_like_codex_blob(item.get("encrypted_content"))
    return item.get("type") in _CALL_TYPES and bool(_comparable_ids(item.get("call_id")))


def replayable_items(output: object) -> list[JSON]:
    """Copies of the reasoning and tool-call items of a completed response's ``output`` worth
    putting back later; none when it holds no valid reasoning, since then there is nothing to
    restore."""
    items = [copy.deepcopy(i) for i in output if _replayable(i)] if isinstance(output, list) else []
    return items if any(i.get("type") == "reasoning" for i in items) else []


# --- merging cached items into an input --------------------------------------------------------


def _has_valid_reasoning(items: list[JSON]) -> bool:
    return any(
        item.get("type") == "reasoning" and looks_like_codex_blob(item.get("encrypted_content")) for item in items
    )


def _call_id(item: JSON) -> str:
    call_id = item.get("call_id")
    return call_id if isinstance(call_id, str) else ""


def _ids_of(items: list[JSON], types: tuple[str, ...]) -> set[str]:
    return {_call_id(i) for i in items if i.get("type") in types} - {""}


def _missing_calls(items: list[JSON], cached: list[JSON]) -> list[JSON]:
    """Cached calls absent from the input whose output is present, renamed to the output's id."""
    present = _ids_of(items, _CALL_TYPES)
    outputs = _ids_of(items, _OUTPUT_TYPES)
    missing: list[JSON] = []
    for item in cached:
        if item.get("type") not in _CALL_TYPES:
            continue
        ids = _comparable_ids(item.get("call_id"))
        answered = ids & outputs
        if answered and not ids & present:
            item["call_id"] = min(answered)
            missing.append(item)
            present |= answered
    return missing


def _anchor(items: list[JSON], cached: list[JSON]) -> int | None:
    """Where the previous answer starts in the input: its first tool call, else the last reply."""
    cached_ids: set[str] = set()
    for item in cached:
        cached_ids |= _comparable_ids(item.get("call_id"))
    for position, item in enumerate(items):
        if item.get("type") in _CALL_TYPES and _call_id(item) in cached_ids:
            return position
    for position in range(len(items) - 1, -1, -1):
        if items[position].get("type") == "message" and items[position].get("role") == "assistant":
            return position
    return None


def _first_output(items: list[JSON], calls: list[JSON]) -> int:
    ids = {c["call_id"] for c in calls}
    return next(p for p, i in enumerate(items) if i.get("type") in _OUTPUT_TYPES and _call_id(i) in ids)


def replay(items: list[JSON], cached: list[JSON]) -> list[JSON]:
    """A new input list with the cached reasoning and missing calls inserted (see module doc)."""
    reasoning = [] if _has_valid_reasoning(items) else [i for i in cached if i.get("type") == "reasoning"]
    calls = _missing_calls(items, cached)
    if not reasoning and not calls:
        return items
    anchor = _anchor(items, cached)
    if anchor is None or (calls and anchor > _first_output(items, calls)):
        if not calls:
            return items
        anchor = _first_output(items, calls)
    return items[:anchor] + reasoning + calls + items[anchor:]
