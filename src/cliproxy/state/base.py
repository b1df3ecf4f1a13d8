"""The interface every state backend implements, and the few plain types it speaks.

Writes (``put_account``, ``put_binding``, ``put_usage``) never wait: they are queued, bounded, and
written by the backend's own task, so a request never waits on a shared store and a store that is
away costs no request anything. Reads are awaited and may be stale; a backend that cannot answer a
read raises :class:`StateUnavailable`, and the caller keeps its own last view.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

# Listeners for what other instances changed: (account name, its state as plain data).
AccountListener = Callable[[str, dict[str, Any]], None]
# (opaque(session, model), account name, seconds left): a session id may be a client's secret, so
# it never travels through the shared store in clear, in a key or in a notice.
BindingListener = Callable[[str, str, float], None]
# Called when a lost store is back, so the caller can read again what it missed.
ReconnectListener = Callable[[], None]
# An account record changed in a shared account store (``state.accounts: redis``): its opaque name.
RecordListener = Callable[[str], None]

# A refresh lease lives this long unless its holder renews it (it does, a third of the way through),
# so a holder that died frees it soon; a waiter waits as long as a refresh with its retries can take.
LEASE_SECONDS = 30.0
LEASE_WAIT = 120.0
HEARTBEAT_SECONDS = 2.0
INSTANCE_TTL = 3 * HEARTBEAT_SECONDS  # an instance that missed three beats is no longer live

__all__ = [
    "HEARTBEAT_SECONDS",
    "INSTANCE_TTL",
    "LEASE_SECONDS",
    "LEASE_WAIT",
    "AccountListener",
    "BindingListener",
    "Health",
    "ReconnectListener",
    "RecordListener",
    "SharedState",
    "StateUnavailable",
    "StoredBinding",
    "UsageEntry",
    "opaque",
]


class StateUnavailable(Exception):
    """A read the shared store could not answer now; the caller goes on with what it knows."""


@dataclass(frozen=True, slots=True)
class Health:
    """What ``/healthz`` and ``cliproxy status`` say about the state backend."""

    backend: str
    connected: bool = True
    since: float = 0.0  # when the current connected (or lost) spell began
    queued: int = 0  # writes waiting for the store to come back
    dropped: int = 0  # writes dropped because the queue was full
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "connected": self.connected, "since": self.since,
                "queued": self.queued, "dropped": self.dropped, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class UsageEntry:
    """One usage record from the shared feed: its place in the feed, who wrote it, the record."""

    position: str
    instance: str
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredBinding:
    """A session binding as the store keeps it: the store knows a session only by ``opaque(session,
    model)``, so that hash is all a reader gets back, with the account's opaque name and the seconds
    the binding has left."""

    key: str
    account: str
    ttl: float


def opaque(*parts: str) -> str:
    """A short stable name for account ids and sessions in keys: account file names may hold an
    e-mail, session ids may be a client's secret, and neither belongs in a shared store's key list."""
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=12).hexdigest()


class SharedState(Protocol):
    """The pool's shared facts. ``backend`` names the implementation; ``instance`` this process,
    started at ``started_at`` (wall clock)."""

    backend: str
    instance: str
    started_at: float

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def health(self) -> Health: ...

    async def flush(self) -> None:
        """Write what is queued now (tests, shutdown); returns when written or the store is away."""
        ...

    # ---- account rests and quota windows ------------------------------------------------------------

    def put_account(self, account: str, data: Mapping[str, Any], expires_at: float) -> None:
        """Queue one account's state, kept until ``expires_at`` (its rests and windows are over then)
        and announced to every other instance."""
        ...

    async def accounts(self) -> dict[str, dict[str, Any]]:
        """Every account state still kept."""
        ...

    def on_account(self, listener: AccountListener) -> None: ...

    def on_reconnect(self, listener: ReconnectListener) -> None: ...

    def on_record(self, listener: RecordListener) -> None:
        """Told when another instance (or a command) wrote or removed an account record in the shared
        account store; only a backend that can hold account records ever calls it."""
        ...

    # ---- session affinity and the round-robin turn ----------------------------------------------------

    def put_binding(self, session: str, model: str, account: str, ttl: float) -> None: ...

    async def binding(self, session: str, model: str) -> str | None: ...

    def on_binding(self, listener: BindingListener) -> None: ...

    async def bindings(self, limit: int) -> list[StoredBinding]:
        """At most ``limit`` live bindings, for an instance that starts or comes back after they were
        made; StateUnavailable when the store is away."""
        ...

    async def turn(self, scope: str, count: int = 1) -> int:
        """A counter shared by every instance (a round-robin position), moved on by ``count``."""
        ...

    # ---- the refresh lease and heartbeats -----------------------------------------------------------

    def lease(self, account: str) -> AbstractAsyncContextManager[None]:
        """Held by one holder at a time across every instance; others wait for it."""
        ...

    async def instances(self) -> list[dict[str, Any]]:
        """The live instances, from their heartbeats (this one included)."""
        ...

    # ---- usage records ------------------------------------------------------------------------------

    def put_usage(self, record: Mapping[str, Any]) -> None: ...

    async def usage_after(self, position: str, count: int) -> list[UsageEntry]:
        """Usage records written after ``position`` ("0" for the start), oldest first."""
        ...
