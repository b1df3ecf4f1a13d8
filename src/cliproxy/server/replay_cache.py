"""The memory behind Claude Code's reasoning replay: the last turn's items per (model, session).

What is kept and where it goes back is the Anthropic dialect's knowledge
(``cliproxy.dialects.anthropic.replay``); this store only remembers it between requests. It
lives with the server because it is long-lived state read with a clock, which a translator never
holds. Bounded in entries (least recently used go first) and in time (entries expire after
``ttl``); no I/O and no locks (one event loop owns it); the clock is injectable. ``forget`` is
for the upstream's ``thinking_signature_invalid`` rejection.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from collections.abc import Callable

from cliproxy.dialects.anthropic.replay import replay, replayable_items
from cliproxy.dialects.base import JSON


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
        items = replayable_items(output)
        key = (model, session)
        if not session or not items:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._clock() + self.ttl, items)
        self._entries.move_to_end(key)
        self._evict()

    def forget(self, model: str, session: str) -> None:
        self._entries.pop((model, session), None)

    def get(self, model: str, session: str) -> list[JSON] | None:
        """The cached items (copies: ``replay`` renames calls), or None when absent or expired."""
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
