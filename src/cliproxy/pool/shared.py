"""One pool's account states and session bindings, kept in step with the other instances.

The pool itself stays in memory and picks without a round trip; this bridge hands what changed to
the shared state (``cliproxy.state``) at attempt end, and applies what other instances announce. A
state travels under an opaque name (a hash of the account's file name), so no file name or e-mail
reaches the store; each instance maps names back through its own accounts, which it reads from the
shared auth dir.

What is shared: rests, per-model blocks, quota windows (each kept until it is over), and session
bindings (announced as they are made, and read back by an instance that starts or reconnects
later). What stays per instance: request and error counters, the count of the upstream's transient
failures in a row, egress rests (they belong to one host's way out).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from typing import Any

from cliproxy.pool.core import Pool
from cliproxy.state.base import SharedState, StateUnavailable, opaque

log = logging.getLogger(__name__)

__all__ = ["PoolShare", "expires_at"]

# Seconds round-robin picks wait to be counted together: the shared counter's round trip then runs
# after the request that made a pick has gone upstream, not while it is on its way there.
TURN_GATHER = 0.02
CLOSE_WAIT = 2.0  # seconds close() gives the catch-up reads to end

# An exported account's fields that only this instance counts: a change in them alone (every success
# moves them, and the time of the latest quota reading) is not written, so a healthy pool whose quota
# readings say the same costs Redis nothing per request.
PER_INSTANCE = frozenset({"requests", "errors", "last_used_at", "last_status"})
QUOTA_READ_AT = "observed_at"


def _shared_part(exported: dict[str, Any]) -> dict[str, Any]:
    """What the other instances act on in an exported account state (to tell news from repetition)."""
    shared = {key: value for key, value in exported.items() if key not in PER_INSTANCE}
    quota = shared.get("quota")
    if isinstance(quota, dict):
        shared["quota"] = {key: value for key, value in quota.items() if key != QUOTA_READ_AT}
    return shared



@functools.lru_cache(maxsize=4096)
def _opaque_name(cid: str) -> str:
    """An account's name in the store (a hash of its id), worked out once per account, not per change."""
    return opaque(cid)


@functools.lru_cache(maxsize=1024)
def _scope(model: str) -> str:
    """The shared round-robin counter of one model."""
    return opaque("round-robin", model)

def expires_at(data: dict[str, Any], now: float) -> float:
    """When nothing in an exported account state matters any more: its rest, model blocks, quota
    limit and window resets are all over. A rest only the user ends has no end (``inf``)."""
    cooling = float(data.get("cooling_until") or 0)
    times = [math.inf if cooling < 0 else cooling, *(float(t) for t in (data.get("model_blocks") or {}).values())]
    quota = data.get("quota") or {}
    times.append(float(quota.get("limit_until") or 0))
    times += _resets(quota)
    return max(times, default=now)


def _resets(quota: dict[str, Any]) -> list[float]:
    out: list[float] = []
    for family in (quota.get("families") or {}).values():
        for window in (family.get("windows") or {}).values() if isinstance(family, dict) else ():
            if isinstance(window, dict):
                out.append(float(window.get("reset_at") or 0))
    return out


class PoolShare:
    """Wires a ``Pool`` to a ``SharedState``: out at attempt end, in on every notice and on reconnect."""

    def __init__(self, pool: Pool, state: SharedState) -> None:
        self.pool, self.state = pool, state
        self._names: dict[str, str] = {}
        self._seen: dict[str, float] = {}  # the change time of each account's newest known state
        self._written: dict[str, dict[str, Any]] = {}  # the shared part of each account's last write
        self._tasks: set[asyncio.Task[None]] = set()
        pool.on_change = self._changed
        pool.on_bind = self._bound
        self._picks: dict[str, int] = {}  # round-robin picks per model not yet counted in the store
        self._picked = asyncio.Event()
        pool.on_turn = self._turned
        state.on_account(self._arrived)
        state.on_binding(self._bound_elsewhere)
        state.on_reconnect(self._reconnected)

    async def start(self) -> None:
        """Learn what the other instances know before serving."""
        await self.reconcile()

    def _turned(self, model: str) -> None:
        """A round-robin pick, on the request path: counted here, shared by ``share_turns``."""
        self._picks[model] = self._picks.get(model, 0) + 1
        self._picked.set()

    async def share_turns(self) -> None:
        """The round-robin position, shared without a round trip before any pick: each instance picks
        from its own position, then adds its picks to the store's counter (one INCRBY per model for
        all the picks since the last) and continues from the total. Three instances behind a balancer
        then interleave like one position instead of walking the accounts in step: three requests
        at once, one per instance, go to three accounts, not all to the same one. Runs until
        cancelled; while the store is away each instance counts alone."""
        while True:
            await self._picked.wait()
            await asyncio.sleep(TURN_GATHER)
            self._picked.clear()
            picks, self._picks = self._picks, {}
            for model, count in picks.items():
                self.pool.follow_turn(model, await self.state.turn(_scope(model), count))

    def _name(self, cid: str) -> str:
        return _opaque_name(cid)

    def _cid(self, name: str) -> str | None:
        cid = self._names.get(name)
        if cid is None:  # an account this map has not seen: rebuild it from the pool's accounts
            self._names = {opaque(c.id): c.id for c in self.pool.credentials()}
            cid = self._names.get(name)
        return cid

    def _changed(self, cid: str) -> None:
        """Announced with the wall-clock time of the change: of two states of one account, the later
        wins everywhere, whatever order they arrive in (an instance back from an outage writes what it
        queued before a newer rest elsewhere)."""
        exported, name = self.pool.export_account(cid), self._name(cid)
        shared = _shared_part(exported)
        if self._written.get(name) == shared:
            return  # a success that changed nothing the others act on: no write, no notice
        self._written[name] = shared
        data = {**exported, "changed_at": time.time()}
        self._seen[name] = data["changed_at"]
        self.state.put_account(name, data, expires_at(data, self.pool.now()))

    def _bound(self, session: str, model: str, cid: str) -> None:
        self.state.put_binding(session, model, self._name(cid), self.pool.affinity_ttl)

    def _arrived(self, name: str, data: dict[str, Any]) -> None:
        changed = float(data.get("changed_at") or 0)
        if changed < self._seen.get(name, 0.0):
            return  # older than what this instance did or learnt since
        cid = self._cid(name)
        if cid is not None:
            self._seen[name] = changed
            self._written.pop(name, None)  # the store holds another's word now: the next change is news
            self.pool.adopt(cid, data)

    def _bound_elsewhere(self, key: str, name: str, ttl: float) -> None:
        """Another instance bound a session (named by its hash): its next turn here goes there too."""
        cid = self._cid(name)
        if cid is not None:
            self.pool.adopt_bindings([(key, cid, ttl)])

    def _reconnected(self) -> None:
        """Listening again, or for the first time: what was missed is in the store's keys. Read in
        the background; a request meanwhile is served from what this instance already knows."""
        task = asyncio.ensure_future(self._catch_up())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop the catch-up reads still running (one starts on every reconnect): called before the
        state closes, so none is left waiting on a store that is gone."""
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a read stuck in redis-py must not hold up a shutdown
            await asyncio.wait(tasks, timeout=CLOSE_WAIT)

    async def _catch_up(self) -> None:
        self._written.clear()  # a store that restarted empty gets every account's next state again
        await self.reconcile()
        await self.load_bindings()

    async def load_bindings(self) -> None:
        """The sessions other instances bound while this one was not listening (it started later, or
        its store was away), so their next turn here goes to the account that holds their cache.
        At most as many as the affinity table holds; bindings to accounts unknown here are left."""
        try:
            found = await self.state.bindings(self.pool.affinity_limit)
        except StateUnavailable as exc:
            log.info("state: cannot read the shared session bindings now (%s)", exc)
            return
        names = {opaque(c.id): c.id for c in self.pool.credentials()}
        taken = self.pool.adopt_bindings((stored.key, names[stored.account], stored.ttl) for stored in found
                                         if stored.account in names)
        log.info("state: %d shared session binding(s) read", taken)

    async def reconcile(self) -> None:
        """Write what waited, then take every state the store keeps (another instance may have
        rested an account meanwhile). An account whose key expired has nothing left to adopt."""
        await self.state.flush()
        try:
            found = await self.state.accounts()
        except StateUnavailable as exc:
            log.info("state: cannot read the shared pool state now (%s); going on with this instance's", exc)
            return
        for name, data in found.items():
            self._arrived(name, data)
        log.info("state: %d shared account state(s) read", len(found))
