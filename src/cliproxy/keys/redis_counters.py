"""Client-key counts on Redis, so a key's limits hold across every instance of a deployment.

Layout under the deployment's prefix: one hash per key, window and slice,
``kc:<opaque(key name)>:<per>/<rolling|calendar>:<slice>``, with fields ``r`` (requests) and ``t``
(tokens). The slices are those of ``keys/windows.py`` (a calendar window is one slice, a rolling one
60), and each slice key expires when its slice leaves the window, plus a minute for clocks that
differ between hosts: nothing lingers, and only the slices in force are ever read. Beside them,
``kc:once:<opaque(instance, reservation)>`` marks a reservation as corrected, until its slices expire.

Admission is one Lua script, so the check and the count are one atomic step across every instance:
for each of the key's windows it reads the slices in force and either counts one request and the
estimate in the current slice of every window, or answers those slices, from which the refusal (the
limit that keeps the key waiting longest, and its reset) is worked out here with the very arithmetic
of :class:`MemoryCounters`. ``settle`` and ``release`` correct the slices the request was counted in
(a slice already gone stays gone, a sum never goes below zero), exactly once per reservation.

Redis away: a reservation that Redis does not answer within ``state.timeout-seconds``, or while the
state already knows Redis is away, is counted in this instance's own :class:`MemoryCounters`, and
the log says so once per outage. Each instance then enforces limits on its own, from what it admitted
meanwhile; when Redis is back, those counts are added to Redis's (one script, counted once even if
sent twice), so what was served during the outage still counts against the windows it fell in. A
correction that cannot reach Redis waits in the state's bounded write queue. Only keys with limits
reach here, so the request path of an unlimited key (and of a plain ``api-keys`` entry) never
touches Redis.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from redis.asyncio.client import Pipeline

from cliproxy.keys.counters import MemoryCounters, Reservation, WindowUsage, refuse_if_spent, window_usage
from cliproxy.keys.model import KeySpec
from cliproxy.keys.windows import Tally, WindowSpec
from cliproxy.state.base import SharedState, StateUnavailable, opaque
from cliproxy.state.redis import GONE, RedisState

log = logging.getLogger(__name__)

GRACE_MS = 60_000  # a slice key outlives its window by this much: clocks differ a little between hosts

# KEYS[w]: window w's slice-key stem. ARGV: mode ('reserve' or 'peek'), the estimate, then per window
# (ARGV[3w], ARGV[3w+1], ARGV[3w+2]) its first and current slice and the current slice's expiry in ms,
# then per limit its window's number, kind (0 requests, 1 tokens) and amount.
# Answers 1 when counted, else each window's slices in force as {slice, requests, tokens}.
_RESERVE = """
local live, sums = {}, {}
for w = 1, #KEYS do
  local slices, r, t = {}, 0, 0
  for i = tonumber(ARGV[3 * w]), tonumber(ARGV[3 * w + 1]) do
    local v = redis.call('hmget', KEYS[w] .. i, 'r', 't')
    if v[1] or v[2] then
      local sr, st = tonumber(v[1] or '0'), tonumber(v[2] or '0')
      slices[#slices + 1] = {i, sr, st}
      r, t = r + sr, t + st
    end
  end
  live[w], sums[w] = slices, {r, t}
end
if ARGV[1] ~= 'reserve' then return live end
for at = 3 * #KEYS + 3, #ARGV, 3 do
  if sums[tonumber(ARGV[at])][tonumber(ARGV[at + 1]) + 1] >= tonumber(ARGV[at + 2]) then return live end
end
for w = 1, #KEYS do
  local key = KEYS[w] .. ARGV[3 * w + 1]
  redis.call('hincrby', key, 'r', 1)
  redis.call('hincrby', key, 't', ARGV[2])
  redis.call('pexpireat', key, ARGV[3 * w + 2])
end
return 1
"""
# KEYS: the reservation's marker, then the slices it was counted in; ARGV: requests and tokens to add,
# the marker's expiry (ms). The marker makes a correction count once even when it is sent again: one
# whose answer timed out may have been applied, and its copy waits in the write queue.
_CORRECT = """
if not redis.call('set', KEYS[1], '1', 'nx', 'pxat', ARGV[3]) then return 0 end
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('exists', key) == 1 then
    if redis.call('hincrby', key, 'r', ARGV[1]) < 0 then redis.call('hset', key, 'r', 0) end
    if redis.call('hincrby', key, 't', ARGV[2]) < 0 then redis.call('hset', key, 't', 0) end
  end
end
return 0
"""
# KEYS: the merge's marker, then one slice key per count; ARGV: the marker's expiry (ms), then per slice
# (ARGV[3i-1], ARGV[3i], ARGV[3i+1]) the requests and tokens to add and the slice's expiry (ms).
_MERGE = """
if not redis.call('set', KEYS[1], '1', 'nx', 'pxat', ARGV[1]) then return 0 end
for i = 2, #KEYS do
  redis.call('hincrby', KEYS[i], 'r', ARGV[3 * i - 4])
  redis.call('hincrby', KEYS[i], 't', ARGV[3 * i - 3])
  redis.call('pexpireat', KEYS[i], ARGV[3 * i - 2])
end
return 1
"""


class RedisCounters:
    """``KeyCounters`` on the deployment's Redis, through the shared state's own connection."""

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._local = MemoryCounters()  # while Redis is away
        self._ids = itertools.count(1)
        self._away = False
        self._reserve = state.client.register_script(_RESERVE)
        self._merges, self._merging = itertools.count(1), False

    @classmethod
    def sharing(cls, state: SharedState) -> RedisCounters:
        assert isinstance(state, RedisState), "client-key counters on Redis need the Redis state"
        return cls(state)

    def _stem(self, name: str, window_id: str) -> str:
        """Where one key's slices of one window are kept, less the slice number."""
        return self._state.key("kc", opaque(name), window_id, "")

    def _args(self, mode: str, key: KeySpec, estimate: int, now: float) -> tuple[list[str], list[Any]]:
        windows = key.windows
        args: list[Any] = [mode, estimate]
        for window in windows:
            current = window.slice_at(now)
            args += [current - window.span + 1, current, int(window.leaves_at(current) * 1000) + GRACE_MS]
        for limit in key.limits:
            args += [windows.index(limit.window) + 1, limit.kind, limit.amount]
        return [self._stem(key.name, window.id) for window in windows], args

    async def _run(self, mode: str, key: KeySpec, estimate: int, now: float) -> Any:
        """The script's answer, or None when Redis is away (known already, or found out now)."""
        if not self._state.connected:
            return None
        keys, args = self._args(mode, key, estimate, now)
        try:
            answer = await self._reserve(keys=keys, args=args)
        except GONE as exc:
            self._state.lost(exc)
            return None
        return answer

    async def reserve(self, key: KeySpec, estimate: int, now: float) -> Reservation:
        """Counted in Redis in one atomic step, or refused naming the limit; this instance's own view
        while Redis is away."""
        if not key.limits:
            return Reservation(key.name, estimate, id=next(self._ids), shared=True)
        answer = await self._run("reserve", key, estimate, now)
        if answer is None:
            self._going_local()
            reservation = await self._local.reserve(key, estimate, now)
            self._merge_later()
            return reservation
        self._back()
        if answer != 1:
            refuse_if_spent(key, _tallies(key, answer).__getitem__, now)
            raise AssertionError("the script refused a key whose every limit has room")
        slices = [(window.id, window.slice_at(now)) for window in key.windows]
        return Reservation(key.name, estimate, slices, id=next(self._ids), shared=True)

    def _going_local(self) -> None:
        if not self._away:
            self._away = True
            log.warning("client keys: Redis at %s did not answer; until it does, this instance enforces the "
                        "keys' limits on its own", self._state.where)

    def _back(self) -> None:
        if self._away:
            self._away = False
            log.info("client keys: Redis at %s answers again; limits are counted across instances again",
                     self._state.where)

    def settle(self, reservation: Reservation, tokens: int) -> None:
        """The request is done: its tokens replace its estimate, where it was counted. Never waits."""
        if not reservation.shared:
            self._local.settle(reservation, tokens)
        elif reservation.open:
            reservation.open = False
            self._write(reservation, 0, tokens - reservation.estimate)

    def release(self, reservation: Reservation) -> None:
        """The request failed or was abandoned: it counts for nothing, where it was counted. Never waits."""
        if not reservation.shared:
            self._local.release(reservation)
        elif reservation.open:
            reservation.open = False
            self._write(reservation, -1, -reservation.estimate)

    def _write(self, reservation: Reservation, requests: int, tokens: int) -> None:
        """One correction, queued with the state's other writes: sent by its writer at once, or when
        Redis is back. Its marker key makes a correction sent twice (a retry after a timeout) count once."""
        if not reservation.slices or (requests == 0 and tokens == 0):
            return
        keys = [self._state.key("kc", "once", opaque(self._state.instance, str(reservation.id)))]
        keys += [self._stem(reservation.key, window_id) + str(index) for window_id, index in reservation.slices]
        args = [requests, tokens, _last_expiry(reservation)]

        def correction(pipe: Pipeline) -> None:
            pipe.eval(_CORRECT, len(keys), *keys, *args)

        self._state.enqueue(correction)

    def _merge_later(self) -> None:
        """A count made here while Redis is away: the state's writer, which writes only once Redis
        answers again, will add what this instance counted alone to Redis (one merge per outage)."""
        if not self._merging:
            self._merging = True
            self._state.enqueue(_Merge(self))

    def merge_args(self) -> tuple[list[str], list[int]]:
        """What this instance counted alone, as the merge script's keys and arguments, and none kept
        here any more. A request still open settles here afterwards, where its slice is gone, so its
        estimate stands for its tokens: never less than it used."""
        self._merging = False
        counts = self._local.drain()
        if not counts:
            return [], []
        marker = self._state.key("kc", "once", opaque(self._state.instance, f"merge-{next(self._merges)}"))
        keys, args = [marker], [0]
        for name, window, index, (requests, tokens) in counts:
            keys.append(self._stem(name, window.id) + str(index))
            args += [requests, tokens, int(window.leaves_at(index) * 1000) + GRACE_MS]
        args[0] = max(args[3::3])
        log.info("client keys: what %d key(s) used while Redis was away is added to the shared counts",
                 len({name for name, *_ in counts}))
        return keys, args

    async def usage(self, key: KeySpec, now: float) -> list[WindowUsage]:
        """The deployment's counts; this instance's own while Redis is away."""
        if not key.limits:
            return []
        answer = await self._run("peek", key, 0, now)
        if answer is None:
            return await self._local.usage(key, now)
        tallies = _tallies(key, answer)
        return [window_usage(limit, tallies[limit.window], now) for limit in key.limits]

    async def reset(self, name: str) -> None:
        """Every slice of the key goes, in Redis and here; StateUnavailable when Redis is away."""
        await self._local.reset(name)
        client = self._state.client
        try:
            if not self._state.connected:
                raise ConnectionError("Redis is away")
            pattern = self._state.key("kc", opaque(name), "*")
            found = [key async for key in client.scan_iter(match=pattern, count=1000)]
            if found:
                await client.delete(*found)
        except GONE as exc:
            self._state.lost(exc)
            raise StateUnavailable(f"Redis at {self._state.where} is unreachable; the counts of {name!r} "
                                   "there were not reset") from None


class _Merge:
    """The queued write that adds an outage's local counts to Redis. It takes the counts when first
    written, and sends those same counts, under the same marker, if the write has to be sent again:
    Redis adds them once."""

    def __init__(self, counters: RedisCounters) -> None:
        self._counters = counters
        self._taken: tuple[list[str], list[int]] | None = None

    def __call__(self, pipe: Pipeline) -> None:
        if self._taken is None:
            self._taken = self._counters.merge_args()
        keys, args = self._taken
        if keys:
            pipe.eval(_MERGE, len(keys), *keys, *args)


def _last_expiry(reservation: Reservation) -> int:
    """When the last slice the reservation counted in expires (ms): after that a correction is moot."""
    windows = ((WindowSpec(per, mode == "rolling"), index)
               for window_id, index in reservation.slices for per, _, mode in [window_id.partition("/")])
    return max(int(window.leaves_at(index) * 1000) + GRACE_MS for window, index in windows)


def _tallies(key: KeySpec, answer: Any) -> dict[WindowSpec, Tally]:
    """The script's slices in force, per window, as the tallies ``windows.py`` reasons about."""
    return {window: Tally(window, {int(index): [int(requests), int(tokens)] for index, requests, tokens in slices})
            for window, slices in zip(key.windows, answer, strict=True)}


__all__ = ["GRACE_MS", "RedisCounters"]
