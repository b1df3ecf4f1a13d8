"""The one place that decides where account records live: the auth dir's files, or Redis.

Every user of account records (the server, login, refresh, the ``accounts`` commands, the management
API) gets its store here, so ``state.accounts: redis`` moves all of them at once. redis-py and
cryptography are imported only when Redis is chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cliproxy.auth.store import CredentialStore, FileStore, StoreError
from cliproxy.config.schema import Config

if TYPE_CHECKING:
    from cliproxy.auth.redis_store import RedisAccountStore


def in_redis(config: Config) -> bool:
    """True when account records live in Redis rather than in the auth dir."""
    return config.state.accounts == "redis"


def credential_store(config: Config, *, on_write: Callable[[Path, str], None] | None = None,
                     origin: str = "") -> CredentialStore:
    """The store ``config`` names. ``on_write`` is the file store's hook for the reloader; ``origin``
    marks a Redis store's change notices as this instance's own, so it does not re-read its writes."""
    if in_redis(config):
        return redis_store(config, origin=origin)
    return FileStore(config.auth_path, on_write=on_write)


def redis_store(config: Config, *, origin: str = "") -> RedisAccountStore:
    """The account records in the Redis of ``state.url`` (whatever ``state.accounts`` says: ``cliproxy
    accounts push`` fills it before the instances are switched over)."""
    from cliproxy.auth.redis_store import RedisAccountStore

    state = config.state
    if not state.accounts_key:
        raise StoreError("account records in Redis are encrypted: set state.accounts-key or CLIPROXY_ACCOUNTS_KEY "
                         "(`cliproxy accounts key` prints a new one; every instance needs the same)")
    return RedisAccountStore(state.url, state.accounts_key, prefix=state.prefix, timeout=state.timeout_seconds,
                             origin=origin)


__all__ = ["credential_store", "in_redis", "redis_store"]
