"""At most ``limits.upstream-connections-per-host`` open connections per origin, and the line of
requests waiting for one.

httpx's own pool caps connections (``max_connections``); our transport had no cap, so a burst of
requests against a slow upstream opened one connection each. Now a request that finds the origin
full waits until something it could use appears — a slot, an idle HTTP/1.1 connection, a free
HTTP/2 stream — and then looks again; it waits no longer than its pool timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from cliproxy.upstream.transport.body import PoolKey

log = logging.getLogger(__name__)


class OriginFull(Exception):
    """Every slot of the origin is taken: wait for ``HostSlots.changed`` and look again."""


class HostSlots:
    """Open connections counted per origin; waiting requests woken when one may find a way."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[PoolKey, int] = {}
        self._waiters: dict[PoolKey, list[asyncio.Future[None]]] = {}

    def open_count(self, key: PoolKey) -> int:
        return self._open.get(key, 0)

    def take(self, key: PoolKey) -> None:
        """One slot for a new connection, or ``OriginFull``."""
        count = self._open.get(key, 0)
        if count >= self.limit:
            raise OriginFull
        self._open[key] = count + 1

    def give_back(self, key: PoolKey) -> None:
        """A connection closed (or never opened): its slot is free."""
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)
        self.changed(key)

    def changed(self, key: PoolKey) -> None:
        """Something a waiting request may use now: every waiter of ``key`` looks again."""
        waiters = self._waiters.pop(key, None)
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait(self, key: PoolKey, deadline: float | None) -> None:
        """Until ``changed(key)``; ``httpx.PoolTimeout`` at ``deadline`` (loop time)."""
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(key, [])
        waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except TimeoutError:
            log.warning("upstream %s:%d: no connection freed in time, %d open; raise "
                        "limits.upstream-connections-per-host if this upstream takes more", key[1], key[2],
                        self.open_count(key))
            raise httpx.PoolTimeout(f"all {self.limit} connections to {key[1]}:{key[2]} stayed busy "
                                    "(limits.upstream-connections-per-host)") from None
        finally:
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)


__all__ = ["HostSlots", "OriginFull"]
