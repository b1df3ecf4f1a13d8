"""Reading back the session bindings kept in Redis, for an instance that was not listening when they
were made (it started later, or its Redis was away).

A binding's key carries only ``opaque(session, model)``: the reader gets that hash, the account's
opaque name and the time left, and matches the hash when a request of that session arrives. The
read is bounded (the caller's ``limit``, the size of its affinity table) and done in batches, so a
Redis holding a million bindings costs one instance at most ``limit`` keys of memory and a few
hundred round trips off the request path.
"""

from __future__ import annotations

from redis.asyncio import Redis

from cliproxy.state.base import StoredBinding

BATCH = 1000  # keys per SCAN step and per pipelined read
NAME_MAX = 64  # bytes: an account's opaque name is 24; anything longer was not written by us


async def read_bindings(redis: Redis, match: str, limit: int) -> list[StoredBinding]:
    """At most ``limit`` live bindings whose keys match ``match`` (``<prefix>:aff:*``)."""
    keys: list[bytes] = []
    if limit > 0:
        async for key in redis.scan_iter(match=match, count=BATCH):  # each step is its own command
            keys.append(key)
            if len(keys) >= limit:
                break
    out: list[StoredBinding] = []
    for start in range(0, len(keys), BATCH):
        out += await _read(redis, keys[start:start + BATCH])
    return out


async def _read(redis: Redis, keys: list[bytes]) -> list[StoredBinding]:
    """One pipelined round trip: each key's account and milliseconds left. A key that expired between
    the scan and the read (no value, no time left) is skipped."""
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
        pipe.pttl(key)
    replies = await pipe.execute()
    out: list[StoredBinding] = []
    for index, key in enumerate(keys):
        account, left = replies[2 * index], replies[2 * index + 1]
        if isinstance(account, bytes) and len(account) <= NAME_MAX and isinstance(left, int) and left > 0:
            out.append(StoredBinding(key.decode(errors="replace").rpartition(":")[2], account.decode(errors="replace"),
                                     left / 1000))
    return out


__all__ = ["read_bindings"]
