"""Reading back the session bindings kept in Redis, for an instance that was not listening when they
were made (it started later, or its Redis was away).

A binding's key carries only ``opaque(session, model)``: the reader gets that hash, the account's
opaque name and the time left, and matches the hash when a request of that session arrives. The
read is bounded (the caller's ``limit``, the size of its affinity table) and done in batches, so a
Redis holding a million bindings costs one instance at most ``limit`` keys of memory and about a
hundred short round trips, off the request path. 10,000 bindings take about 0.1 s on a local Redis.
"""

from __future__ import annotations

from redis.asyncio import Redis

from cliproxy.state.base import StoredBinding

SCAN_STEP = 1000  # keys asked for per SCAN step
READ_BATCH = 500  # keys read per round trip: each reply is parsed in one go on the event loop, so
                  # a batch this size holds it a few milliseconds at most
NAME_MAX = 64  # bytes: an account's opaque name is 24; anything longer was not written by us
# Each key's value and milliseconds left in one reply (a missing key gives nil and -2): a third of the
# time of a pipeline of GETs and PTTLs, whose thousands of small replies cost more to parse.
_READ = """
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('get', key) or false
  out[2 * i] = redis.call('pttl', key)
end
return out
"""


async def read_bindings(redis: Redis, match: str, limit: int) -> list[StoredBinding]:
    """At most ``limit`` live bindings whose keys match ``match`` (``<prefix>:aff:*``)."""
    keys: list[bytes] = []
    if limit > 0:
        async for key in redis.scan_iter(match=match, count=SCAN_STEP):  # each step is its own command
            keys.append(key)
            if len(keys) >= limit:
                break
    read = redis.register_script(_READ)
    out: list[StoredBinding] = []
    for start in range(0, len(keys), READ_BATCH):
        batch = keys[start:start + READ_BATCH]
        out += _decode(batch, await read(keys=batch))
    return out


def _decode(keys: list[bytes], replies: list[object]) -> list[StoredBinding]:
    """(key, value, ms left) → bindings; a key that expired between the scan and the read is skipped."""
    out: list[StoredBinding] = []
    for index, key in enumerate(keys):
        account, left = replies[2 * index], replies[2 * index + 1]
        if isinstance(account, bytes) and len(account) <= NAME_MAX and isinstance(left, int) and left > 0:
            out.append(StoredBinding(key.decode(errors="replace").rpartition(":")[2], account.decode(errors="replace"),
                                     left / 1000))
    return out


__all__ = ["read_bindings"]
