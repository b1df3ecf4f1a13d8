"""The refresh lease of one account across instances, on Redis: one refresh at a time everywhere.

A refresh token is single-use, so two instances refreshing one account at once would leave one of
them with a dead token. The lease is ``SET NX PX`` with a random token, polled while another holds
it, and released only by its holder (compare-and-delete, ``RELEASE_SCRIPT``). A refresh with its
retries can outlast the lease's life (three tries of 30 s), so the holder renews it while it holds
it (compare-and-expire); a holder that died stops renewing and the lease ends ``LEASE_SECONDS`` later.
The account records' lock (``auth/redis_store.py``) uses the same key and release script, so a login
or a pull and a refresh never overlap either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Protocol

from redis.asyncio import Redis

from cliproxy.state.base import LEASE_SECONDS, LEASE_WAIT, opaque

log = logging.getLogger(__name__)

LEASE_POLL = 0.05  # seconds between tries while another instance holds the lease
# A lease or lock is released only by its holder: compare its token, then delete.
RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# ... and renewed only by its holder: compare its token, then give it a new life.
RENEW_SCRIPT = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
                "else return 0 end")


class Connection(Protocol):
    """What the lease needs of the shared state: its connection, its key names, and its one view of
    whether Redis is there (``RedisState``)."""

    @property
    def client(self) -> Redis: ...

    @property
    def connected(self) -> bool: ...

    def key(self, *parts: str) -> str: ...

    def lost(self, exc: BaseException) -> None: ...


class RedisLease:
    """Leases on one shared state's connection. ``seconds``: a lease's life between renewals;
    ``wait``: how long a waiter waits for a holder before going on without the lease."""

    def __init__(self, state: Connection, gone: tuple[type[BaseException], ...], *,
                 seconds: float = LEASE_SECONDS, wait: float = LEASE_WAIT) -> None:
        self._state, self._gone = state, gone
        self._life_ms, self._renew_every, self._wait = int(seconds * 1000), seconds / 3, wait
        self._release = state.client.register_script(RELEASE_SCRIPT)
        self._renew = state.client.register_script(RENEW_SCRIPT)

    @contextlib.asynccontextmanager
    async def hold(self, account: str) -> AsyncIterator[None]:
        """Held for the block. Without Redis, or after waiting ``wait`` seconds, the caller goes on:
        the account file's lock still keeps one refresh per machine, and a request never fails
        because Redis blinked."""
        key, token = self._state.key("lease", opaque(account)), secrets.token_hex(16)
        if not await self._acquire(key, token):
            yield
            return
        renewing = asyncio.create_task(self._keep(key, token))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(*self._gone):
                await self._release(keys=[key], args=[token])

    async def _acquire(self, key: str, token: str) -> bool:
        deadline = time.monotonic() + self._wait
        while self._state.connected and time.monotonic() < deadline:
            try:
                if await self._state.client.set(key, token, nx=True, px=self._life_ms):
                    return True
            except self._gone as exc:
                self._state.lost(exc)
                break
            await asyncio.sleep(LEASE_POLL)
        log.warning("state: refresh lease not taken (Redis away or the holder silent); the account file's "
                    "lock guards this refresh")
        return False

    async def _keep(self, key: str, token: str) -> None:
        """Renew the lease while its holder works; stop when it is no longer ours (it lapsed while
        Redis was away: said once) or Redis is gone (the account file's lock still holds)."""
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                if not await self._renew(keys=[key], args=[token, self._life_ms]):
                    log.warning("state: a refresh lease lapsed while held (Redis was slow or away); another "
                                "instance may refresh the same account")
                    return
            except self._gone as exc:
                self._state.lost(exc)
                return


__all__ = ["LEASE_POLL", "RELEASE_SCRIPT", "RedisLease"]
