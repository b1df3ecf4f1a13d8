"""The refresh lease on Redis outlives its own life while its holder works, and no longer.

A refresh with its retries can take three tries of 30 s, longer than the lease's 30 s life: the
holder renews it, so another instance does not take it and refresh the same single-use token. A
holder that died stops renewing, and the lease is free a life later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cliproxy.state.base import opaque
from cliproxy.state.redis import RedisState
from tests.fakes.redis_server import RedisServer

LIFE = 0.3  # seconds: a lease's life between renewals in these tests


@pytest.fixture
async def instances(redis_server: RedisServer) -> AsyncIterator[tuple[RedisState, RedisState]]:
    one, other = (RedisState(redis_server.url, prefix="t", lease_seconds=LIFE) for _ in range(2))
    await one.start()
    await other.start()
    try:
        yield one, other
    finally:
        await one.close()
        await other.close()


async def test_a_lease_held_longer_than_its_life_keeps_others_out(instances: tuple[RedisState, RedisState]) -> None:
    one, other = instances
    order: list[str] = []
    held = asyncio.Event()

    async def first() -> None:
        async with one.lease("account-1"):
            held.set()
            await asyncio.sleep(LIFE * 4)  # a slow issuer: four lives
            order.append("first out")

    async def second() -> None:
        await held.wait()
        async with other.lease("account-1"):
            order.append("second in")

    await asyncio.wait_for(asyncio.gather(first(), second()), 10)
    assert order == ["first out", "second in"]


async def test_a_lease_whose_holder_died_is_free_a_life_later(instances: tuple[RedisState, RedisState],
                                                              redis_server: RedisServer) -> None:
    _, other = instances
    # what a holder leaves behind when its process is killed: the key, never renewed again
    redis_server.client().set(f"t:lease:{opaque('account-1')}", "a dead holder's token", px=int(LIFE * 1000))
    started = time.monotonic()
    async with other.lease("account-1"):
        waited = time.monotonic() - started
    assert LIFE * 0.5 < waited < LIFE * 10


async def test_the_lease_is_gone_from_redis_once_released(instances: tuple[RedisState, RedisState],
                                                          redis_server: RedisServer) -> None:
    one, _ = instances
    key = f"t:lease:{opaque('account-1')}"
    async with one.lease("account-1"):
        await asyncio.sleep(LIFE)  # renewed at least once
        assert 0 < redis_server.client().pttl(key) <= LIFE * 1000
    assert not redis_server.client().exists(key)
