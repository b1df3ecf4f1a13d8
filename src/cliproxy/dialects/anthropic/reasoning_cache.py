"""Reasoning replay cache for Claude Code sessions (proxy.md §4.5.4).

Claude Code re-sends its history on every turn, but not always with the reasoning the backend
produced: thinking blocks get cleared or lose their signature. Without its encrypted reasoning
the model starts each turn cold. So per (model, session) we keep the ``reasoning`` and tool-call
items of the last completed response and, on the next request of that session, put back what
the history lacks:

- the cached reasoning items, when the input has no valid reasoning blob at all — placed just
  before the first item of the previous answer (its first tool call, else the last assistant
  message); without such an anchor nothing is inserted, since a blob in the wrong place is
  worse than none;
- a cached tool call whose ``function_call_output`` is present but whose call is missing.

Bounded in entries (least recently used go first) and in time (entries expire after ``ttl``).
A pure data structure: no I/O, no locks (one event loop owns it), the clock is injectable.
``forget`` is for the upstream's ``thinking_signature_invalid`` rejection.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from collections.abc import Callable

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


class ReasoningReplayCache:
    """Last turn's reasoning and tool-call items per (model, session)."""

    def __init__(
        self,
        max_entries: int = 1024,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or ttl <= 0:
            raise ValueError("max_entries must be ≥ 1 and ttl > 0")
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, list[JSON]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, model: str, session: str, output: object) -> None:
        """Keep the replayable items of a completed response's ``output`` (or drop a stale entry)."""
        items = [copy.deepcopy(i) for i in output if _replayable(i)] if isinstance(output, list) else []
        key = (model, session)
        if not session or not any(i.get("type") == "reasoning" for i in items):
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._clock() + self.ttl, items)
        self._entries.move_to_end(key)
        self._evict()

    def forget(self, model: str, session: str) -> None:
        self._entries.pop((model, session), None)

    def get(self, model: str, session: str) -> list[JSON] | None:
        """The cached items (copies), or None when absent or expired."""
        key = (model, session)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, items = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return copy.deepcopy(items)

    def apply(self, model: str, session: str, input_items: list[JSON]) -> list[JSON]:
        """``input_items`` with the session's cached items put back where they are missing."""
        cached = self.get(model, session) if session else None
        return replay(input_items, cached) if cached else input_items

    def _evict(self) -> None:
        now = self._clock()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


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
