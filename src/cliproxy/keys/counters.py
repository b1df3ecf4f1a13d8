"""What each client key used, behind a small interface, with an embedded store that survives restarts.

The request path talks to :class:`KeyCounters` only: ``reserve`` on admission (one request and an
estimate of its tokens, refused with :class:`LimitReached` when a limit is already spent), then
exactly one of ``settle`` (the real tokens, once the answer is done) or ``release`` (the request
failed or was abandoned before it produced anything). Those two never wait, like every write to
shared state: a store on the network queues the correction and sends it on its own time, so the end
of a request costs no task and no round trip. Because the estimate is counted at once,
requests admitted together see each other's estimates: a burst can pass a token limit by at most
one request's estimate, and a request limit not at all.

:class:`MemoryCounters` keeps the counts in memory and hands them over as plain data
(``export_state``/``restore``), saved by the pool's state-file keeper, so a restart keeps them.
Its reads are ``async`` for a shared store (Redis) that must await the network; this one never
awaits, so a check and its count happen in one step of the event loop and cannot interleave.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cliproxy.keys.model import KeySpec, Limit
from cliproxy.keys.windows import Tally, WindowSpec

STATE_VERSION = 1


class LimitReached(Exception):
    """A key's limit is spent: which one, and when the key may try again (Unix seconds)."""

    def __init__(self, key: str, limit: Limit, reset_at: float) -> None:
        super().__init__(f"{key}: {limit.describe()} reached")
        self.key, self.limit, self.reset_at = key, limit, reset_at


@dataclass(slots=True)
class Reservation:
    """One admitted request's count; closed by exactly one ``settle`` or ``release``."""

    key: str
    estimate: int
    slices: list[tuple[str, int]] = field(default_factory=list)  # (window id, slice) counted in
    open: bool = True
    id: int = 0
    shared: bool = False  # counted in a shared store (Redis) rather than this process's memory


@dataclass(frozen=True, slots=True)
class WindowUsage:
    """One limit as ``GET /v1/usage`` reports it."""

    limit: Limit
    used: int
    resets_at: float | None

    @property
    def remaining(self) -> int:
        return max(0, self.limit.amount - self.used)


class KeyCounters(Protocol):
    """Where client-key counts live; the embedded one is :class:`MemoryCounters`."""

    async def reserve(self, key: KeySpec, estimate: int, now: float) -> Reservation: ...

    def settle(self, reservation: Reservation, tokens: int) -> None:
        """The request is done: its tokens replace its estimate. Never waits."""
        ...

    def release(self, reservation: Reservation) -> None:
        """The request failed or was abandoned: it counts for nothing. Never waits."""
        ...

    async def usage(self, key: KeySpec, now: float) -> list[WindowUsage]: ...

    async def reset(self, name: str) -> None: ...


def refuse_if_spent(key: KeySpec, tally_of: Callable[[WindowSpec], Tally], now: float) -> None:
    """Raise LimitReached for the spent limit that keeps the key waiting longest, with the moment it is
    admitted again; nothing while every limit has room. Shared by every store, so they agree to the second."""
    refusals = []
    for limit in key.limits:
        tally = tally_of(limit.window)
        if tally.used(now)[limit.kind] >= limit.amount:
            refusals.append(LimitReached(key.name, limit, tally.below_at(now, limit.kind, limit.amount)))
    if refusals:
        raise max(refusals, key=lambda refusal: refusal.reset_at)


def window_usage(limit: Limit, tally: Tally, now: float) -> WindowUsage:
    """One limit's use and reset: a calendar window's end; for a rolling one, when the key is admitted
    again if it is at its limit, else when its oldest counted request leaves the window."""
    used = tally.used(now)[limit.kind]
    if not limit.window.rolling:
        return WindowUsage(limit, used, limit.window.leaves_at(limit.window.slice_at(now)))
    resets = tally.below_at(now, limit.kind, limit.amount) if used >= limit.amount else tally.next_change(now)
    return WindowUsage(limit, used, resets)


class MemoryCounters:
    """Counts in memory, per key name and window; ``dirty`` tells the state keeper to save."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str], Tally] = {}
        self._ids = itertools.count(1)
        self.dirty = False

    def _tally(self, name: str, window: WindowSpec) -> Tally:
        tally = self._tallies.get((name, window.id))
        if tally is None:
            tally = self._tallies[(name, window.id)] = Tally(window)
        return tally

    async def reserve(self, key: KeySpec, estimate: int, now: float) -> Reservation:
        """Count one request and ``estimate`` tokens, or raise LimitReached naming the limit that
        keeps the key waiting longest."""
        refuse_if_spent(key, lambda window: self._tally(key.name, window), now)
        reservation = Reservation(key.name, estimate, id=next(self._ids))
        for window in key.windows:
            reservation.slices.append((window.id, self._tally(key.name, window).add(now, 1, estimate)))
        self.dirty = self.dirty or bool(reservation.slices)
        return reservation

    def settle(self, reservation: Reservation, tokens: int) -> None:
        """The request is done: its tokens replace its estimate."""
        if reservation.open:
            reservation.open = False
            self._correct(reservation, 0, tokens - reservation.estimate)

    def release(self, reservation: Reservation) -> None:
        """The request failed or was abandoned: it counts for nothing."""
        if reservation.open:
            reservation.open = False
            self._correct(reservation, -1, -reservation.estimate)

    def _correct(self, reservation: Reservation, requests: int, tokens: int) -> None:
        for window_id, index in reservation.slices:
            tally = self._tallies.get((reservation.key, window_id))
            if tally is not None:
                tally.correct(index, requests, tokens)
        self.dirty = self.dirty or bool(reservation.slices)

    async def usage(self, key: KeySpec, now: float) -> list[WindowUsage]:
        return [window_usage(limit, self._tally(key.name, limit.window), now) for limit in key.limits]

    async def reset(self, name: str) -> None:
        for tally_key in [tally_key for tally_key in self._tallies if tally_key[0] == name]:
            del self._tallies[tally_key]
        self.dirty = True

    def drain(self) -> list[tuple[str, WindowSpec, int, list[int]]]:
        """Every count held, as ``(key name, window, slice, [requests, tokens])``, and none kept: what an
        instance counted alone while the shared store was away, handed to the store once it is back."""
        tallies, self._tallies = self._tallies, {}
        self.dirty = self.dirty or bool(tallies)
        return [(name, tally.spec, index, sums) for (name, _), tally in tallies.items()
                for index, sums in tally.slices.items() if sums[0] or sums[1]]

    # ---- plain data, for the state file ------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        self.dirty = False
        tallies = [{"key": name, "per": tally.spec.per, "rolling": tally.spec.rolling,
                    "slices": [[index, *sums] for index, sums in sorted(tally.slices.items())]}
                   for (name, _), tally in self._tallies.items() if tally.slices]
        return {"version": STATE_VERSION, "tallies": tallies}

    def restore(self, data: dict[str, Any] | None, now: float) -> None:
        """Counts saved by ``export_state``; anything unreadable is skipped, not fatal."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return
        for item in data.get("tallies") or []:
            try:
                tally = self._tally(str(item["key"]), WindowSpec(str(item["per"]), bool(item["rolling"])))
                tally.slices.update({int(index): [int(requests), int(tokens)]
                                     for index, requests, tokens in item["slices"]})
                tally.prune(now)
            except (KeyError, TypeError, ValueError):
                continue


__all__ = ["KeyCounters", "LimitReached", "MemoryCounters", "Reservation", "WindowUsage", "refuse_if_spent",
           "window_usage"]
