"""Shared facts in Redis, for several instances serving one pool.

Layout under the configured prefix (every name is opaque: no account file name, e-mail or session
id appears in a key):

| key | what | kept |
|---|---|---|
| ``acct:<name>`` | one account's rests and quota windows (JSON) | until they are over (the key's own expiry) |
| ``aff:<session·model>`` | the account a session is bound to | the affinity TTL |
| ``turn:<scope>`` | a shared counter (round-robin position) | forever |
| ``lease:<name>`` | the refresh lease: a random token | 30 s at most; released by compare-and-delete |
| ``instance:<id>`` | a heartbeat | three beats |
| ``usage`` | a stream of usage records | the last ``state.usage-stream-max`` |
| ``kc:…`` | client-key counts, written by ``keys/redis_counters.py`` on this connection | their windows |
| ``notices`` | pub/sub: every account change, and each write's bindings, with their data (``redis_notices.py``) | — |

A change is announced with its data on ``notices``, so another instance applies it without a round
trip: on loopback that takes about a millisecond. The key is the truth a new or returning instance
reads (``accounts``, and ``bindings`` in batches: ``redis_bindings.py``).

Redis going away never fails a request: writes wait in a bounded queue (account states one per
account, newest wins), reads raise ``StateUnavailable`` or fall back to this instance's own view,
the lease falls back to the account file's lock, and one task pings until Redis answers again, then
writes what waited, subscribes again and then tells the listeners to read everything again
(``on_reconnect``): a change made while this instance was not listening is in the keys by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cliproxy.state.base import (
    HEARTBEAT_SECONDS,
    INSTANCE_TTL,
    LEASE_SECONDS,
    AccountListener,
    BindingListener,
    Health,
    ReconnectListener,
    RecordListener,
    StateUnavailable,
    StoredBinding,
    UsageEntry,
    opaque,
)
from cliproxy.state.redis_bindings import read_bindings
from cliproxy.state.redis_lease import RedisLease
from cliproxy.state.redis_notices import Notices, bindings_notice

log = logging.getLogger(__name__)

MAX_KEEP = 30 * 86400.0  # a rest only the user ends is kept this long in Redis (the file keeps it too)
RETRY_EVERY = 0.25  # seconds between pings while Redis is away
CLOSE_WAIT = 2.0  # seconds close() gives the loops to end
GATHER = 0.02  # seconds a binding or usage record waits for others to share its write
GONE = (RedisError, OSError)
# An account state is written (or deleted, when ARGV[1] is empty) and announced only if it is not older
# than the one stored: an instance coming back from an outage must not replace a newer rest with the
# ``available`` it queued before it.
_PUT_ACCOUNT = """
local stored = redis.call('get', KEYS[1])
if stored then
  local ok, current = pcall(cjson.decode, stored)
  if ok and tonumber(current['changed_at'] or 0) > tonumber(ARGV[2]) then return 0 end
end
if ARGV[1] == '' then redis.call('del', KEYS[1]) else redis.call('set', KEYS[1], ARGV[1], 'pxat', ARGV[3]) end
redis.call('publish', KEYS[2], ARGV[4])
return 1
"""
Op = Callable[[Pipeline], None]


def where(url: str) -> str:
    """``host:port`` (or the socket path) of a Redis URL, for log lines: never its password."""
    parts = urlsplit(url)
    return parts.path if parts.scheme == "unix" else f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


class RedisState:
    """``SharedState`` on one Redis (or a Redis-compatible server: Valkey, KeyDB, a managed one)."""

    backend = "redis"

    def __init__(self, url: str, *, prefix: str = "cliproxy", timeout: float = 0.5, queue_max: int = 10_000,
                 usage_max: int = 100_000, clock: Callable[[], float] = time.time,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.info: dict[str, Any] = {}  # what this instance's heartbeat says besides its id
        self.where, self._prefix, self._clock = where(url), prefix, clock
        no_retry = Retry(NoBackoff(), 0)
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=no_retry)
        # pub/sub waits for messages indefinitely, so it has no read timeout; a dead server is an EOF
        self._listener = Redis.from_url(url, socket_connect_timeout=timeout, retry=no_retry)
        self._lease = RedisLease(self, GONE, seconds=lease_seconds)
        self._put_account = self._redis.register_script(_PUT_ACCOUNT)
        self._pending: dict[str, tuple[dict[str, Any], float]] = {}
        self._queue: deque[Op] = deque(maxlen=queue_max)
        # Bindings waiting to be written, by hashed key (the newest word wins); one notice per write.
        self._bindings: dict[str, tuple[str, float]] = {}
        self._usage_max, self._dropped = usage_max, 0
        self._notices = Notices(self.instance)
        self._up, self._since, self.started_at, self._why = True, clock(), clock(), ""
        self._wake, self._back, self._urgent = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._turns: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    # ---- the connection, shared with the deployment's other stores (client-key counters) --------------

    @property
    def client(self) -> Redis:
        """The command connection: another store shares its sockets and its timeout (``state.timeout-seconds``)."""
        return self._redis

    @property
    def connected(self) -> bool:
        """False from a failed command until a ping answers again: the one view of whether Redis is there."""
        return self._up

    def key(self, *parts: str) -> str:
        return self._key(*parts)

    def lost(self, exc: BaseException) -> None:
        """Another store found Redis gone: one warning, ``/healthz`` says so, and the pings begin."""
        self._lost(exc)

    def enqueue(self, op: Op) -> None:
        """A write for the bounded queue, sent with the others (at once, or when Redis is back)."""
        self._enqueue(op)

    # ---- lifetime and health --------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin writing, listening and beating; a Redis that is away at start is retried, not fatal."""
        try:
            await self._redis.ping()
        except GONE as exc:
            self._lost(exc)
        else:
            self._back.set()
            log.info("state: shared on Redis at %s (prefix %r) as instance %s", self.where, self._prefix,
                     self.instance)
        self._tasks = [asyncio.create_task(loop()) for loop in (self._write_loop, self._listen_loop,
                                                                 self._beat_loop, self._watch_loop)]

    async def close(self) -> None:
        """Write what waits, then stop the loops. redis-py can turn a cancellation inside a read into a
        connection error, which a loop takes for Redis going away: ``_closing`` ends them all the same."""
        await self.flush()
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=CLOSE_WAIT)
        if self._up:
            with contextlib.suppress(*GONE):
                await self._redis.delete(self._key("instance", self.instance))
        await self._redis.aclose()
        await self._listener.aclose()

    def health(self) -> Health:
        queued = len(self._pending) + len(self._queue) + len(self._bindings)
        detail = "" if self._up else (f"Redis at {self.where} is unreachable ({self._why}); serving from this "
                                      "instance's last view, writes queued")
        return Health(self.backend, self._up, self._since, queued, self._dropped, detail)

    def _lost(self, exc: BaseException) -> None:
        if self._up:
            self._up, self._since, self._why = False, self._clock(), failure_reason(exc)
            self._back.clear()
            log.warning("state: lost Redis at %s (%s); serving from this instance's last view, writes queued",
                        self.where, self._why)

    def _regained(self) -> None:
        self._up, self._since = True, self._clock()
        log.info("state: Redis at %s is back; writing %d queued change(s) and reading the shared state again",
                 self.where, len(self._pending) + len(self._queue))
        self._back.set()
        self._wake.set()

    async def _watch_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(RETRY_EVERY)
            if self._up:
                continue
            with contextlib.suppress(*GONE):
                await self._redis.ping()
                self._regained()

    # ---- writes: queued, written by one task ------------------------------------------------------------

    async def flush(self) -> None:
        if self._up:
            await self._write()

    async def _write_loop(self) -> None:
        """Account states are written at once (a rest must reach the others fast); bindings and usage
        records wait ``GATHER`` seconds for more, so a busy instance writes them in batches: one
        write each costs about 140 µs of CPU in redis-py, ten in one pipeline about 40 µs each."""
        while not self._closing:
            await self._wake.wait()
            if not self._pending:  # an account state that comes meanwhile ends the wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), GATHER)
            self._wake.clear()
            self._urgent.clear()
            if self._up:
                await self._write()

    async def _write(self) -> None:
        accounts, self._pending = self._pending, {}
        bindings, self._bindings = self._bindings, {}
        ops = list(self._queue)
        self._queue.clear()
        if not accounts and not ops and not bindings:
            return
        pipe = self._redis.pipeline(transaction=False)
        for name, (data, until) in accounts.items():
            await self._account_op(pipe, name, data, until)
        self._bindings_op(pipe, bindings)
        for op in ops:
            op(pipe)
        try:
            await pipe.execute()
        except GONE as exc:
            self._lost(exc)
            for name, entry in accounts.items():
                self._pending.setdefault(name, entry)  # a newer state queued meanwhile wins
            self._bindings = {**bindings, **self._bindings}
            self._requeue(ops)

    def _bindings_op(self, pipe: Pipeline, bindings: dict[str, tuple[str, float]]) -> None:
        """Each binding's key, and one notice for them all: a busy instance's bindings cost the others
        one message per write, not one per conversation."""
        if not bindings:
            return
        for hashed, (account, ttl) in bindings.items():
            pipe.set(self._key("aff", hashed), account, px=max(1, int(ttl * 1000)))
        pipe.publish(self._key("notices"), bindings_notice(self.instance, bindings))

    def _requeue(self, ops: list[Op]) -> None:
        maxlen = self._queue.maxlen or len(ops)
        merged = [*ops, *self._queue]
        self._dropped += max(0, len(merged) - maxlen)
        self._queue = deque(merged[-maxlen:], maxlen=maxlen)

    def _enqueue(self, op: Op) -> None:
        if len(self._queue) == self._queue.maxlen:
            self._dropped += 1
        self._queue.append(op)
        self._wake.set()

    async def _account_op(self, pipe: Pipeline, name: str, data: dict[str, Any], until: float) -> None:
        now = self._clock()
        value = orjson.dumps(data) if until > now else b""
        notice = orjson.dumps({"from": self.instance, "kind": "account", "name": name, "data": data})
        await self._put_account(keys=[self._key("acct", name), self._key("notices")], client=pipe,
                          args=[value, float(data.get("changed_at") or 0), int(min(until, now + MAX_KEEP) * 1000),
                                notice])

    def put_account(self, account: str, data: Mapping[str, Any], expires_at: float) -> None:
        self._pending[account] = (dict(data), expires_at)
        self._wake.set()
        self._urgent.set()

    def put_binding(self, session: str, model: str, account: str, ttl: float) -> None:
        hashed = opaque(session, model)
        self._bindings.pop(hashed, None)
        self._bindings[hashed] = (account, ttl)
        if len(self._bindings) > (self._queue.maxlen or 1):
            del self._bindings[next(iter(self._bindings))]
            self._dropped += 1
        self._wake.set()

    def put_usage(self, record: Mapping[str, Any]) -> None:
        fields = {"from": self.instance, "record": orjson.dumps(dict(record))}
        stream, maxlen = self._key("usage"), self._usage_max
        self._enqueue(lambda pipe: pipe.xadd(stream, fields, maxlen=maxlen, approximate=True))  # type: ignore[arg-type]

    # ---- notices from the other instances ------------------------------------------------------------

    def on_account(self, listener: AccountListener) -> None:
        self._notices.accounts.append(listener)

    def on_binding(self, listener: BindingListener) -> None:
        self._notices.bindings.append(listener)

    def on_reconnect(self, listener: ReconnectListener) -> None:
        self._notices.reconnects.append(listener)

    def on_record(self, listener: RecordListener) -> None:
        self._notices.records.append(listener)

    async def _listen_loop(self) -> None:
        while not self._closing:
            await self._back.wait()
            try:
                async with self._listener.pubsub() as pubsub:
                    await pubsub.subscribe(self._key("notices"))
                    self._subscribed()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            self._notices.dispatch(message.get("data"))
            except GONE as exc:
                if not self._closing:
                    self._lost(exc)

    def _subscribed(self) -> None:
        """Listening again: what changed before now is in the keys, so the listeners read them now
        (a change announced while this instance was not listening is not lost)."""
        self._notices.reconnected()

    # ---- reads ----------------------------------------------------------------------------------------

    async def _scan(self, pattern: str) -> dict[str, Any]:
        """Every key matching ``pattern`` (after the prefix) with its value; StateUnavailable when
        Redis is away (already known, or found out now)."""
        if not self._up:
            raise StateUnavailable(f"Redis at {self.where} is unreachable")
        try:
            keys = [key async for key in self._redis.scan_iter(match=self._key(pattern), count=1000)]
            values = await self._redis.mget(keys) if keys else []
        except GONE as exc:
            self._lost(exc)
            raise StateUnavailable(f"Redis at {self.where} is unreachable") from None
        return {_text(key).rpartition(":")[2]: value for key, value in zip(keys, values, strict=True)
                if value is not None}

    async def accounts(self) -> dict[str, dict[str, Any]]:
        found = await self._scan("acct:*")
        return {name: data for name, raw in found.items() if isinstance(data := _json(raw), dict)}

    async def instances(self) -> list[dict[str, Any]]:
        found = await self._scan("instance:*")
        return sorted((beat for raw in found.values() if isinstance(beat := _json(raw), dict)),
                      key=lambda beat: str(beat.get("instance")))

    async def binding(self, session: str, model: str) -> str | None:
        if not self._up:
            return None
        try:
            value = await self._redis.get(self._key("aff", opaque(session, model)))
        except GONE as exc:
            self._lost(exc)
            return None
        return value.decode() if isinstance(value, bytes) else None

    async def bindings(self, limit: int) -> list[StoredBinding]:
        if not self._up:
            raise StateUnavailable(f"Redis at {self.where} is unreachable")
        try:
            return await read_bindings(self._redis, self._key("aff", "*"), limit)
        except GONE as exc:
            self._lost(exc)
            raise StateUnavailable(f"Redis at {self.where} is unreachable") from None

    async def turn(self, scope: str, count: int = 1) -> int:
        """Redis's counter; this instance's own while Redis is away."""
        if self._up:
            try:
                return int(await self._redis.incrby(self._key("turn", scope), count))
            except GONE as exc:
                self._lost(exc)
        self._turns[scope] = self._turns.get(scope, 0) + count
        return self._turns[scope]

    async def usage_after(self, position: str, count: int) -> list[UsageEntry]:
        if not self._up:
            raise StateUnavailable(f"Redis at {self.where} is unreachable")
        start = "-" if position in ("", "0") else "(" + position
        try:
            rows = await self._redis.xrange(self._key("usage"), min=start, max="+", count=count)
        except GONE as exc:
            self._lost(exc)
            raise StateUnavailable(f"Redis at {self.where} is unreachable") from None
        return [UsageEntry(_text(ident), _text(fields.get(b"from")), record)
                for ident, fields in rows or () if fields and isinstance(record := _json(fields.get(b"record")), dict)]

    # ---- the refresh lease and heartbeats ----------------------------------------------------------------

    def lease(self, account: str) -> AbstractAsyncContextManager[None]:
        """One holder across every instance (``redis_lease.py``)."""
        return self._lease.hold(account)

    async def _beat_loop(self) -> None:
        while not self._closing:
            if self._up:
                beat = {**self.info, "instance": self.instance, "started_at": self.started_at,
                        "seen_at": self._clock()}
                try:
                    await self._redis.set(self._key("instance", self.instance), orjson.dumps(beat),
                                          px=int(INSTANCE_TTL * 1000))
                except GONE as exc:
                    self._lost(exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)


def failure_reason(exc: BaseException) -> str:
    """Why Redis failed, as redis-py says it (a refused connection, a wrong password, a certificate
    not trusted): its messages name the host and port at most, never the URL's password."""
    said = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw or "")


def _json(raw: Any) -> Any:
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return None



__all__ = ["GONE", "MAX_KEEP", "Op", "RedisState", "failure_reason", "where"]
