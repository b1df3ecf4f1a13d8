"""The windows a client key's limits are counted in: rolling, or aligned to the calendar in UTC.

A calendar window is one slice: the current minute, hour, day, week (from Monday 00:00 UTC) or
5-hour block (counted from the Unix epoch, so blocks start at 00:00, 05:00, … UTC on the first day
and drift by an hour a day after that). It empties at once at its end.

A rolling window is kept in 60 slices, so it costs 60 numbers at most whatever the traffic: a
request counts until its slice leaves the window, between 59/60 of the window and the whole of it
after it was made. A slice keeps two sums (requests, tokens), so one window serves both kinds of limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

SECONDS = {"minute": 60.0, "hour": 3600.0, "5h": 18000.0, "day": 86400.0, "week": 604800.0}
SLICES = 60  # of a rolling window
MONDAY = 4 * 86400.0  # the Unix epoch was a Thursday: the first Monday 00:00 UTC
REQUESTS, TOKENS = 0, 1


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """How one window is cut: its length and whether it rolls or follows the calendar.

    What follows from the two is worked out once here, not on each admission that reads it."""

    per: str  # minute, hour, 5h, day, week
    rolling: bool
    slice_seconds: float = field(init=False, compare=False)
    offset: float = field(init=False, compare=False)  # where the calendar's week starts
    span: int = field(init=False, compare=False)  # slices that count at once: 60 rolling, 1 on the calendar
    id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        derived = {"slice_seconds": SECONDS[self.per] / SLICES if self.rolling else SECONDS[self.per],
                   "offset": MONDAY if self.per == "week" and not self.rolling else 0.0,
                   "span": SLICES if self.rolling else 1,
                   "id": f"{self.per}/{'rolling' if self.rolling else 'calendar'}"}
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def slice_at(self, now: float) -> int:
        return int((now - self.offset) // self.slice_seconds)

    def leaves_at(self, index: int) -> float:
        """When the slice ``index`` stops counting."""
        return (index + self.span) * self.slice_seconds + self.offset


@dataclass(slots=True)
class Tally:
    """What one key used in one window: ``[requests, tokens]`` per slice, old slices dropped."""

    spec: WindowSpec
    slices: dict[int, list[int]] = field(default_factory=dict)

    def _live(self, now: float) -> Iterator[tuple[int, list[int]]]:
        first = self.spec.slice_at(now) - self.spec.span + 1
        return ((index, sums) for index, sums in sorted(self.slices.items()) if index >= first)

    def used(self, now: float) -> tuple[int, int]:
        first = self.spec.slice_at(now) - self.spec.span + 1
        requests = tokens = 0
        for index, sums in self.slices.items():
            if index >= first:
                requests, tokens = requests + sums[REQUESTS], tokens + sums[TOKENS]
        return requests, tokens

    def add(self, now: float, requests: int, tokens: int) -> int:
        """Count at ``now``; the slice it went to (a later correction goes to the same one)."""
        index = self.spec.slice_at(now)
        sums = self.slices.get(index)
        if sums is None:  # a new slice: the time to drop those that left the window
            self.prune(now)
            sums = self.slices[index] = [0, 0]
        sums[REQUESTS] += requests
        sums[TOKENS] += tokens
        return index

    def correct(self, index: int, requests: int, tokens: int) -> None:
        """Change a slice counted earlier; a slice already out of the window is left alone."""
        sums = self.slices.get(index)
        if sums is not None:
            sums[REQUESTS] = max(0, sums[REQUESTS] + requests)
            sums[TOKENS] = max(0, sums[TOKENS] + tokens)

    def prune(self, now: float) -> None:
        first = self.spec.slice_at(now) - self.spec.span + 1
        for index in [index for index in self.slices if index < first]:
            del self.slices[index]

    def below_at(self, now: float, kind: int, limit: int) -> float:
        """When the sum of ``kind`` falls below ``limit`` as slices leave the window (now if it is below)."""
        live = list(self._live(now))
        total = sum(sums[kind] for _, sums in live)
        for index, sums in live:
            if total < limit:
                break
            total -= sums[kind]
            now = self.spec.leaves_at(index)
        return now

    def next_change(self, now: float) -> float | None:
        """When the oldest counted slice leaves the window (``None`` when nothing is counted)."""
        live = [index for index, sums in self._live(now) if sums[REQUESTS] or sums[TOKENS]]
        return self.spec.leaves_at(live[0]) if live else None


__all__ = ["REQUESTS", "SECONDS", "TOKENS", "Tally", "WindowSpec"]
