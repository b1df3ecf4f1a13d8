"""The ready accounts of one candidate set, kept in order so a pick costs O(log n).

A ``Selector`` serves one (model, candidate set). It keeps, per priority level, a sorted list of
keys of the accounts that can serve now, and a heap of wake-up times for the ones that cannot.
The pool tells it when an account's state changed (``refresh``); time-driven changes (a cooldown
ending, a quota window resetting) come out of the wake-up heap at the next pick. Nothing in a
pick walks all accounts:

- round-robin: the next key after the level's cursor (``bisect``); an account of weight *w* has *w*
  keys, one per round, so heavier accounts are interleaved rather than repeated;
- fill-first: the level's first key, i.e. the lowest credential id;
- headroom: keys sort by (less quota left later, earlier reset first), so the first key wins.

Levels are (priority, tier), served in that order. The tier is 0 unless ``routing.prefer-earlier-reset``
is on; then it is the reset time of the preferred window, rounded down to a bucket, so the accounts
whose quota expires soonest are served first and the strategy applies among them. Tier levels
appear and vanish as accounts move; a pick still only looks at the first level with a ready key.

Sorted Python lists are used rather than a tree: search is ``bisect`` (log n) and an insert or
delete moves pointers with one ``memmove``, which for thousands of entries costs less than a
tree's per-node Python overhead. Inserts happen on state changes only, never per pick.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cliproxy.pool.quota import LONG, SHORT, Window

MAX_WEIGHT = 16  # keys per account: a heavier weight is clamped
Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an account stands for one selector right now."""

    blocked_until: float  # > now: not ready; math.inf: only the user can fix it
    wake_at: float = 0.0  # another instant its ordering changes (headroom: a window reset)
    headroom: float = 100.0
    reset_at: float = math.inf
    tier: float = 0.0  # lower is served first within a priority (prefer-earlier-reset)


Status = Callable[[str, float], Placement]


@dataclass(slots=True)
class _Level:
    """One priority group's ready keys and its round-robin cursor."""

    ready: list[Key] = field(default_factory=list)
    cursor: Key | None = None


class Selector:
    """Ready accounts of one candidate set, per priority (highest first), ordered for the strategy."""

    def __init__(self, members: Sequence[tuple[str, int, int]], strategy: str, status: Status,
                 now: float) -> None:
        """``members`` are (credential id, priority, weight) in candidate order (credential ids)."""
        self.strategy = strategy
        self._status = status
        self._position = {cid: index for index, (cid, _, _) in enumerate(members)}
        self._priority = {cid: priority for cid, priority, _ in members}
        self._weight = {cid: max(1, min(MAX_WEIGHT, weight)) for cid, _, weight in members}
        self._width = max(1, len(members))
        self._levels: dict[tuple[int, float], _Level] = {(-priority, 0.0): _Level() for _, priority, _ in members}
        self._order = sorted(self._levels)  # (-priority, tier): the first is served first
        self._keys: dict[str, list[Key]] = {}
        self._level_of: dict[str, tuple[int, float]] = {}
        self._wakeups: list[tuple[float, str]] = []
        self._wake_at: dict[str, float] = {}
        for cid, _, _ in members:
            self.refresh(cid, now)

    def __contains__(self, cid: object) -> bool:
        return cid in self._position

    @property
    def size(self) -> int:
        return len(self._position)

    def is_ready(self, cid: str, now: float) -> bool:
        self._wake(now)
        return bool(self._keys.get(cid))

    def refresh(self, cid: str, now: float) -> None:
        """Re-place an account after its state changed (or a wake-up came due)."""
        if cid not in self._position:
            return
        placement = self._status(cid, now)
        keys = [] if placement.blocked_until > now else self._keys_for(cid, placement)
        where = (-self._priority[cid], placement.tier)
        old = self._keys.get(cid, [])
        if keys != old or (keys and self._level_of.get(cid) != where):
            self._unplace(cid, old)
            if keys:
                level = self._level(where)
                for key in keys:
                    insort(level.ready, key)
                self._level_of[cid] = where
            self._keys[cid] = keys
        wake = placement.blocked_until if placement.blocked_until > now else placement.wake_at
        if now < wake < math.inf and self._wake_at.get(cid) != wake:
            self._wake_at[cid] = wake
            heapq.heappush(self._wakeups, (wake, cid))

    def _level(self, where: tuple[int, float]) -> _Level:
        level = self._levels.get(where)
        if level is None:
            level = self._levels[where] = _Level()
            insort(self._order, where)
        return level

    def _unplace(self, cid: str, keys: list[Key]) -> None:
        """Take an account's keys out of its level; an emptied tier level goes (priority levels
        stay, with their round-robin cursor)."""
        where = self._level_of.pop(cid, None)
        if where is None:
            return
        level = self._levels[where]
        for key in keys:
            index = bisect_left(level.ready, key)
            if index < len(level.ready) and level.ready[index] == key:
                del level.ready[index]
        if not level.ready and where[1]:
            del self._levels[where]
            self._order.remove(where)

    def _keys_for(self, cid: str, placement: Placement) -> list[Key]:
        position = self._position[cid]
        if self.strategy == "headroom":
            return [(-placement.headroom, placement.reset_at, position, cid)]
        if self.strategy == "fill-first":
            return [(position, cid)]
        return [(round_ * self._width + position, cid) for round_ in range(self._weight[cid])]

    def _wake(self, now: float) -> None:
        heap = self._wakeups
        while heap and heap[0][0] <= now:
            wake, cid = heapq.heappop(heap)
            if self._wake_at.get(cid) == wake:
                del self._wake_at[cid]
                self.refresh(cid, now)

    def pick(self, now: float, exclude: Container[str] = ()) -> str | None:
        """The next ready account (not in ``exclude``) of the highest priority that has one."""
        self._wake(now)
        for where in self._order:
            level = self._levels[where]
            if level.ready:
                chosen = self._choose(level, exclude)
                if chosen is not None:
                    return chosen
        return None

    def follow(self, position: int) -> None:
        """Round robin: place the first ready level's cursor at ``position`` (a count of picks shared
        with other instances), so the next pick is the one after it."""
        for where in self._order:
            level = self._levels[where]
            if level.ready:
                level.cursor = level.ready[(position - 1) % len(level.ready)]
                return

    def _choose(self, level: _Level, exclude: Container[str]) -> str | None:
        ready = level.ready
        if self.strategy != "round-robin":
            for key in ready:  # stops at the first; skips only accounts tried in this request
                if key[-1] not in exclude:
                    return str(key[-1])
            return None
        start = bisect_right(ready, level.cursor) if level.cursor is not None else 0
        count = len(ready)
        for step in range(count):
            key = ready[(start + step) % count]
            if key[-1] not in exclude:
                level.cursor = key
                return str(key[-1])
        return None


# prefer-earlier-reset buckets: resets within the same hour (5 h window) or day (weekly) tie, so
# the strategy still spreads load among them.
TIER_STEP = {SHORT: 3600.0, LONG: 86400.0}


def reset_tier(windows: Mapping[str, Window], prefer: str, now: float) -> float:
    """prefer-earlier-reset: the preferred window's reset, bucketed (else the other window's).
    An account without a known reset comes first, as in codex-lb: it is tried, learnt and
    placed, instead of never being used."""
    for kind in ((SHORT, LONG) if prefer == "short" else (LONG, SHORT)):
        window = windows.get(kind)
        if window is not None and window.reset_at > now:
            return window.reset_at - window.reset_at % TIER_STEP[kind]
    return 0.0
