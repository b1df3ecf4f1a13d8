"""Client-key counts on Redis: the same numbers as the embedded counters, one atomic check-and-count
for every instance, slice keys that expire and name no key, and a Redis that blinks costing no request."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from cliproxy.config.load import parse_config
from cliproxy.keys.counters import KeyCounters, LimitReached, MemoryCounters, Reservation
from cliproxy.keys.model import KeyRing, KeySpec
from cliproxy.keys.redis_counters import GRACE_MS, RedisCounters
from cliproxy.state.redis import RedisState
from tests.fakes.redis_server import RedisServer
from tests.state.waiting import until

WEEK, MONDAY = 604800, 4 * 86400
# A Wednesday, 10:20:30 UTC, one to two weeks ahead: inside its minute, hour, day and week, and later
# than Redis's own clock, so the slice keys' expiry (set from this frozen clock) has not passed.
NOW = ((time.time() - MONDAY) // WEEK + 2) * WEEK + MONDAY + 2 * 86400 + 10 * 3600 + 20 * 60 + 30


def key(*limits: dict[str, object], name: str = "team") -> KeySpec:
    config = parse_config({"client-keys": [{"name": name, "key": "sk-team-0123456789", "limits": list(limits)}]})
    spec = KeyRing(config).find("sk-team-0123456789")
    assert spec is not None
    return spec


async def started(server: RedisServer, timeout: float = 0.5) -> RedisState:
    state = RedisState(server.url, prefix="t", timeout=timeout)
    await state.start()
    return state


@pytest.fixture
async def shared(redis_server: RedisServer) -> AsyncIterator[RedisCounters]:
    state = await started(redis_server)
    try:
        yield RedisCounters.sharing(state)
    finally:
        await state.close()


async def admitted(counters: KeyCounters, spec: KeySpec, at: float, estimate: int = 0) -> Reservation | None:
    try:
        return await counters.reserve(spec, estimate, NOW + at)
    except LimitReached:
        return None


# ---- one story, told to both stores --------------------------------------------------------------------

MIXED = key({"requests": 3, "per": "minute"}, {"tokens": 1000, "per": "hour", "window": "calendar"},
            {"requests": 5, "per": "5h"}, {"requests": 9, "per": "week", "window": "calendar"})


async def _nothing() -> None:
    return None


async def story(counters: KeyCounters, written: Callable[[], Awaitable[None]] = _nothing) -> list[Any]:
    """Reserves, refusals, settles and releases (each twice), usage and a reset, on a frozen clock.
    ``written``: returns once queued corrections reached the store (settle and release never wait)."""
    seen: list[Any] = []

    async def reserve(at: float, estimate: int = 0) -> Reservation:
        try:
            reservation = await counters.reserve(MIXED, estimate, NOW + at)
        except LimitReached as refusal:
            seen.append(("refused", at, refusal.limit.describe(), refusal.reset_at))
            return Reservation(MIXED.name, 0, open=False)
        seen.append(("admitted", at))
        return reservation

    async def usage(at: float) -> None:
        found = await counters.usage(MIXED, NOW + at)
        seen.append(("usage", at, [(u.limit.describe(), u.used, u.remaining, u.resets_at) for u in found]))

    first, second = await reserve(0, 100), await reserve(10, 200)
    await usage(15)
    for tokens in (600, 50):  # the second settle changes nothing
        counters.settle(first, tokens)
    await written()
    third = await reserve(20, 300)
    await reserve(25)  # the minute and the hour are both spent: the hour keeps it waiting longer
    for _ in range(2):
        counters.release(third)
    counters.settle(second, 100)
    await written()
    await usage(30)
    await reserve(40, 50)
    await reserve(45)  # the rolling minute: until the first request's slice leaves it
    await usage(50)
    await reserve(61)
    await reserve(200)
    await reserve(201)  # five in the rolling 5 hours
    await usage(4000)  # the calendar hour has turned
    await counters.reset(MIXED.name)
    await usage(4001)
    return seen


async def test_redis_counts_exactly_as_the_embedded_counters_do(redis_server: RedisServer) -> None:
    state = await started(redis_server)
    try:
        embedded, on_redis = await story(MemoryCounters()), await story(RedisCounters.sharing(state), state.flush)
    finally:
        await state.close()
    assert on_redis == embedded
    refusals = [(seen[1], seen[2]) for seen in on_redis if seen[0] == "refused"]
    assert refusals == [(25, "1000 tokens per hour (calendar, UTC)"), (45, "3 requests per minute (rolling)"),
                        (201, "5 requests per 5 hours (rolling)")]
    last = on_redis[-1]
    assert [used for _, used, _, _ in last[2]] == [0, 0, 0, 0]


# ---- across instances ----------------------------------------------------------------------------------

async def test_fifty_at_once_on_two_instances_against_ten_admit_exactly_ten(redis_server: RedisServer) -> None:
    states = [await started(redis_server) for _ in range(2)]
    try:
        counters = [RedisCounters.sharing(state) for state in states]
        spec = key({"requests": 10, "per": "hour"})
        results = await asyncio.gather(*(admitted(counters[n % 2], spec, 0) for n in range(50)))
        assert sum(result is not None for result in results) == 10
        assert [u.used for u in await counters[1].usage(spec, NOW)] == [10]
    finally:
        for state in states:
            await state.close()


async def test_a_token_burst_passes_the_limit_by_at_most_one_estimate(shared: RedisCounters) -> None:
    spec = key({"tokens": 1000, "per": "hour"})
    results = await asyncio.gather(*(admitted(shared, spec, 0, estimate=300) for _ in range(50)))
    counted = 300 * sum(result is not None for result in results)
    assert 1000 <= counted < 1000 + 300
    assert [u.used for u in await shared.usage(spec, NOW)] == [counted]


# ---- what lands in Redis -------------------------------------------------------------------------------

async def test_slice_keys_name_no_key_and_expire_with_their_window(shared: RedisCounters,
                                                                    redis_server: RedisServer) -> None:
    spec = key({"requests": 5, "per": "minute", "window": "calendar"}, {"tokens": 50, "per": "day"}, name="alice")
    await shared.reserve(spec, 10, NOW)
    client = redis_server.client()
    found = sorted(name.decode() if isinstance(name, bytes) else name for name in client.keys("t:kc:*"))
    assert len(found) == 2 and not any("alice" in name for name in found)
    minute_end = (NOW // 60 + 1) * 60
    expiries = sorted(int(client.pexpiretime(name)) / 1000 for name in found)
    assert expiries[0] == pytest.approx(minute_end + GRACE_MS / 1000, abs=0.001)
    assert expiries[1] <= NOW + 86400 + GRACE_MS / 1000


async def test_a_key_without_limits_never_reaches_redis(shared: RedisCounters, redis_server: RedisServer) -> None:
    def scripts_run() -> int:
        stats: dict[str, Any] = redis_server.client().info("commandstats")
        return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))

    before = scripts_run()
    reservation = await shared.reserve(key(), 500, NOW)
    shared.settle(reservation, 900)
    assert await shared.usage(key(), NOW) == []
    assert scripts_run() == before


# ---- Redis away ----------------------------------------------------------------------------------------

async def test_with_redis_gone_admission_counts_locally_and_says_so_once(
        redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    state = await started(redis_server)
    counters, spec = RedisCounters.sharing(state), key({"requests": 2, "per": "hour"})
    try:
        assert await admitted(counters, spec, 0) is not None
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="cliproxy.keys.redis_counters"):
            local = [await admitted(counters, spec, 1) for _ in range(3)]
        assert [r is not None for r in local] == [True, True, False]  # this instance's own view: 2 of 2
        assert sum("enforces the keys' limits on its own" in r.message for r in caplog.records) == 1
        assert [u.used for u in await counters.usage(spec, NOW + 2)] == [2]
        assert local[0] is not None
        counters.release(local[0])  # counted locally, given back locally
        assert [u.used for u in await counters.usage(spec, NOW + 2)] == [1]
        assert not state.health().connected
    finally:
        await state.close()


async def test_a_silent_redis_costs_one_timeout_and_a_timed_out_correction_counts_once(
        redis_server: RedisServer) -> None:
    state = await started(redis_server, timeout=0.2)
    counters = RedisCounters.sharing(state)
    spec = key({"requests": 3, "per": "hour"}, {"tokens": 10_000, "per": "hour"})
    assert redis_server.process is not None
    pid = redis_server.process.pid
    try:
        counted = await counters.reserve(spec, 100, NOW)
        os.kill(pid, signal.SIGSTOP)  # connected, but silent
        try:
            counters.settle(counted, 400)  # queued with the state's other writes
            await state.flush()  # sent to the silent Redis, unanswered: Redis counts as gone, the write stays queued
            served = await asyncio.wait_for(counters.reserve(spec, 100, NOW + 1), 10)  # a guard, not a timing
            assert not served.shared and not state.health().connected  # counted here, Redis not asked
        finally:
            os.kill(pid, signal.SIGCONT)  # Redis wakes and runs the settle it had received
        await until(lambda: state.health().connected)
        await state.flush()  # the queued copy of the settle, and the request counted here meanwhile
        assert [u.used for u in await counters.usage(spec, NOW + 2)] == [2, 500]
    finally:
        await state.close()


async def test_what_was_served_while_redis_was_away_counts_once_it_is_back(redis_server: RedisServer) -> None:
    one, other = await started(redis_server), await started(redis_server)
    first, second = RedisCounters.sharing(one), RedisCounters.sharing(other)
    spec = key({"requests": 5, "per": "hour"}, {"tokens": 10_000, "per": "day", "window": "calendar"})
    try:
        await admitted(first, spec, 0, estimate=100)
        redis_server.stop()
        away = [await admitted(first, spec, 1, estimate=100) for _ in range(3)]
        assert all(r is not None and not r.shared for r in away)
        redis_server.start()  # the same port, empty (it saved nothing): the instances find it again
        await until(lambda: one.health().connected and other.health().connected)
        await one.flush()
        assert [u.used for u in await second.usage(spec, NOW + 2)] == [3, 300]  # another instance sees them
        assert [u.used for u in await first.usage(spec, NOW + 2)] == [3, 300]  # and this one, from Redis
        assert [await admitted(second, spec, 3) is not None for _ in range(2)] == [True, True]
        assert await admitted(first, spec, 3) is None  # 5 of 5 across the two
    finally:
        await one.close()
        await other.close()


# ---- the request path's cost ---------------------------------------------------------------------------

async def test_the_cost_of_one_admission_on_a_local_redis(shared: RedisCounters) -> None:
    """Prints the figure docs/scaling.md quotes (run with ``-s``)."""
    spec = key({"requests": 100_000, "per": "hour"}, {"tokens": 10_000_000, "per": "day", "window": "calendar"})
    started_at = time.perf_counter()
    for _ in range(1000):
        await shared.reserve(spec, 100, NOW)
    each = (time.perf_counter() - started_at) / 1000
    print(f"\none admission (two windows, one rolling) on a local Redis: {each * 1e6:.0f} µs")
    assert [u.used for u in await shared.usage(spec, NOW)] == [1000, 100_000]
