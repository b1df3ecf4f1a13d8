"""Where the pool's shared facts live, and whether that place answers: ``state.backend: redis``
needs a Redis every instance reaches, and ``state.accounts: redis`` a key that opens the records.

A Redis that does not answer does not stop a server (each instance then serves on its own), so the
other checks would not show it: the accounts check would only say there are none. This one names the
cause. It never prints the URL (it may hold a password), only host and port, as the server's log does.
"""

from __future__ import annotations

from cliproxy.auth.store import StoreError
from cliproxy.auth.stores import in_redis, redis_store
from cliproxy.cli.diagnose.findings import Finding
from cliproxy.config.schema import Config

FIX_REDIS = ("start Redis, or fix state.url (or CLIPROXY_STATE_URL); until it answers each instance serves on "
             "its own")


def check_state(config: Config, timeout: float) -> list[Finding]:
    """One line for the backend (embedded, or Redis answering with its live instances), and one for
    the account records when they are kept in Redis."""
    section = config.state
    if section.backend == "embedded":
        return [Finding("state", "ok", "embedded: this instance alone (see docs/scaling.md to share a pool)")]
    import redis  # only with state.backend: redis, as the server imports it

    from cliproxy.state.redis import failure_reason, where

    client = redis.Redis.from_url(section.url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        version = str(client.info("server").get("redis_version") or "?")
        live = sum(1 for _ in client.scan_iter(match=f"{section.prefix}:instance:*", count=1000))
    except (redis.RedisError, OSError) as exc:
        return [Finding("state", "fail", f"Redis at {where(section.url)} does not answer ({failure_reason(exc)})",
                        FIX_REDIS)]
    finally:
        client.close()
    found = [Finding("state", "ok", f"Redis {version} at {where(section.url)} answers (prefix {section.prefix!r}); "
                                    f"{live} live instance(s)")]
    return found + ([_records(config)] if in_redis(config) else [])


def _records(config: Config) -> Finding:
    """The account records in Redis: there are some, and this config's key opens them."""
    try:
        names = redis_store(config).names()
    except StoreError as exc:
        return Finding("state", "fail", f"account records: {exc}",
                       "set the same state.accounts-key (or CLIPROXY_ACCOUNTS_KEY) as the instances that wrote them")
    if not names:
        return Finding("state", "warn", "account records: none in Redis yet",
                       "`cliproxy accounts push` moves the auth dir's accounts there, or `cliproxy login`")
    return Finding("state", "ok", f"account records: {len(names)} in Redis, readable with this key")


__all__ = ["check_state"]
