"""One process's shared facts: memory, and file locks for the refresh lease.

This is what cliproxy always did, as an implementation of ``SharedState``: there is no other
instance to tell, so nothing is announced, and what the pool keeps across restarts stays in its own
state file (``pool/store.py``). The lease is a lock file under ``<auth-dir>/.state/leases`` when a
directory is given (several processes on one machine), an in-process lock otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import filelock

from cliproxy.state.base import (
    AccountListener,
    BindingListener,
    Health,
    ReconnectListener,
    RecordListener,
    StoredBinding,
    UsageEntry,
    opaque,
)

MAX_BINDINGS = 50_000
MAX_USAGE = 10_000
LEASE_POLL = 0.05


class EmbeddedState:
    """Memory with expiry; listeners are kept but never called (no other instance writes)."""

    backend = "embedded"

    def __init__(self, lease_dir: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self._lease_dir, self._clock = lease_dir, clock
        self.started_at = clock()
        self._accounts: dict[str, tuple[dict[str, Any], float]] = {}
        self._bindings: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._turns: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._usage: list[UsageEntry] = []
        self._serial = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def health(self) -> Health:
        return Health(self.backend, since=self.started_at)

    async def flush(self) -> None:
        return None

    def put_account(self, account: str, data: Mapping[str, Any], expires_at: float) -> None:
        self._accounts[account] = (dict(data), expires_at)

    async def accounts(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {name: dict(data) for name, (data, until) in self._accounts.items() if until > now}

    def on_account(self, listener: AccountListener) -> None:
        return None

    def on_reconnect(self, listener: ReconnectListener) -> None:
        return None

    def put_binding(self, session: str, model: str, account: str, ttl: float) -> None:
        key = opaque(session, model)
        self._bindings[key] = (account, self._clock() + ttl)
        self._bindings.move_to_end(key)
        while len(self._bindings) > MAX_BINDINGS:
            self._bindings.popitem(last=False)

    async def binding(self, session: str, model: str) -> str | None:
        entry = self._bindings.get(opaque(session, model))
        return entry[0] if entry is not None and entry[1] > self._clock() else None

    def on_record(self, listener: RecordListener) -> None:
        """Account records are files here; the reloader watches them."""
        return None

    def on_binding(self, listener: BindingListener) -> None:
        return None

    async def bindings(self, limit: int) -> list[StoredBinding]:
        now = self._clock()
        live = [StoredBinding(key, account, until - now) for key, (account, until) in self._bindings.items()
                if until > now]
        return live[-limit:] if limit > 0 else []

    async def turn(self, scope: str, count: int = 1) -> int:
        self._turns[scope] = self._turns.get(scope, 0) + count
        return self._turns[scope]

    @contextlib.asynccontextmanager
    async def lease(self, account: str) -> AsyncIterator[None]:
        """An in-process lock, then (with a directory) the account's lease file, polled so a
        cancelled waiter never leaves it held."""
        async with self._locks.setdefault(account, asyncio.Lock()):
            if self._lease_dir is None:
                yield
                return
            self._lease_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = filelock.FileLock(str(self._lease_dir / f"{opaque(account)}.lock"))
            while True:
                try:
                    lock.acquire(timeout=0)
                    break
                except filelock.Timeout:
                    await asyncio.sleep(LEASE_POLL)
            try:
                yield
            finally:
                lock.release()

    async def instances(self) -> list[dict[str, Any]]:
        return [{"instance": self.instance, "started_at": self.started_at, "seen_at": self._clock()}]

    def put_usage(self, record: Mapping[str, Any]) -> None:
        self._serial += 1
        self._usage.append(UsageEntry(f"0-{self._serial}", self.instance, dict(record)))
        del self._usage[:-MAX_USAGE]

    async def usage_after(self, position: str, count: int) -> list[UsageEntry]:
        after = _serial_of(position)
        return [entry for entry in self._usage if _serial_of(entry.position) > after][:count]


def _serial_of(position: str) -> int:
    try:
        return int(position.rpartition("-")[2])
    except ValueError:
        return 0


__all__ = ["EmbeddedState"]
