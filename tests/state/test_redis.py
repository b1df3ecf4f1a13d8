"""What only a shared store does: another instance hears of a change, and a Redis that blinks costs
nothing but a delay: writes wait, reads fall back, and everything is written when it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cliproxy.state.base import opaque
from cliproxy.state.redis import RedisState
from tests.fakes.redis_server import RedisServer
from tests.state.waiting import until


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[tuple[RedisState, RedisState]]:
    one, two = RedisState(redis_server.url, prefix="t"), RedisState(redis_server.url, prefix="t")
    await one.start()
    await two.start()
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def _subscribed(one: RedisState, two: RedisState, heard: list[Any]) -> None:
    """Both listeners are subscribed once a probe from ``one`` reaches ``two``."""
    async def probe() -> None:
        while not heard:
            one.put_account("probe", {}, 0)
            await asyncio.sleep(0.05)
    await asyncio.wait_for(probe(), 10)
    heard.clear()


async def test_another_instance_hears_of_an_account_change_and_the_writer_does_not(
        pair: tuple[RedisState, RedisState]) -> None:
    one, two = pair
    heard_by_one: list[tuple[str, dict[str, Any]]] = []
    heard_by_two: list[tuple[str, dict[str, Any]]] = []
    one.on_account(lambda name, data: heard_by_one.append((name, data)))
    two.on_account(lambda name, data: heard_by_two.append((name, data)))
    await _subscribed(one, two, heard_by_two)
    one.put_account("a", {"reason": "usage limit reached"}, time.time() + 60)
    await until(lambda: heard_by_two)
    assert heard_by_two == [("a", {"reason": "usage limit reached"})]
    assert [name for name, _ in heard_by_one] == []


async def _bindings_heard(pair: tuple[RedisState, RedisState]) -> list[tuple[str, str, float]]:
    """What the second instance hears of the first one's bindings, from once both listen."""
    one, two = pair
    accounts: list[Any] = []
    bindings: list[tuple[str, str, float]] = []
    two.on_account(lambda name, data: accounts.append(name))
    two.on_binding(lambda key, name, ttl: bindings.append((key, name, ttl)))
    await _subscribed(one, two, accounts)
    return bindings


async def test_another_instance_hears_of_a_session_binding(pair: tuple[RedisState, RedisState]) -> None:
    bindings = await _bindings_heard(pair)
    pair[0].put_binding("s1", "gpt-5.4", "a", ttl=60)
    assert await until(lambda: bindings) == [(opaque("s1", "gpt-5.4"), "a", 60)]


async def test_a_busy_instances_bindings_go_out_in_one_notice_that_names_no_session(
        pair: tuple[RedisState, RedisState], redis_server: RedisServer) -> None:
    bindings = await _bindings_heard(pair)
    raw = redis_server.client().pubsub()
    raw.subscribe("t:notices")
    assert raw.get_message(timeout=5) is not None  # the subscription's own confirmation
    for n in range(10):
        pair[0].put_binding(f"secret-session-{n}", "gpt-5.4", "a", ttl=60)
    await pair[0].flush()
    await until(lambda: len(bindings) == 10)
    assert sorted(bindings) == sorted((opaque(f"secret-session-{n}", "gpt-5.4"), "a", 60) for n in range(10))
    messages = [m["data"] for m in iter(lambda: raw.get_message(timeout=0.5), None) if m["type"] == "message"]
    assert not any(b"secret-session" in data for data in messages)
    assert sum(b'"kind":"bindings"' in data for data in messages) == 1
    raw.close()


async def test_a_redis_that_blinks_keeps_the_writes_and_says_so(redis_server: RedisServer) -> None:
    shared = RedisState(redis_server.url, prefix="t")
    back: list[bool] = []
    shared.on_reconnect(lambda: back.append(True))
    await shared.start()
    try:
        redis_server.stop()
        shared.put_account("a", {"reason": "rate limited"}, time.time() + 60)
        shared.put_usage({"n": 1})
        await until(lambda: not shared.health().connected)
        health = shared.health()
        assert health.queued == 2 and "unreachable" in health.detail
        assert await shared.binding("s", "m") is None  # a read falls back instead of failing
        assert await shared.turn("m") == 1
        redis_server.start()
        await until(lambda: back)
        await shared.flush()
        assert shared.health().connected and shared.health().queued == 0
        assert await shared.accounts() == {"a": {"reason": "rate limited"}}
        assert [entry.record for entry in await shared.usage_after("0", 10)] == [{"n": 1}]
    finally:
        await shared.close()


async def test_an_older_account_state_written_late_replaces_nothing(pair: tuple[RedisState, RedisState]) -> None:
    # Given a rest written by one instance, and an older "available" another queued during an outage
    one, two = pair
    heard: list[tuple[str, dict[str, Any]]] = []
    one.on_account(lambda name, data: heard.append((name, data)))
    await _subscribed(two, one, heard)
    now = time.time()
    one.put_account("a", {"reason": "usage limit reached", "changed_at": now}, now + 600)
    await one.flush()
    two.put_account("a", {"reason": "", "changed_at": now - 5}, now - 1)  # expired: would delete the key
    await two.flush()
    # Then the store keeps the rest, and nobody is told the stale state
    assert (await two.accounts())["a"]["reason"] == "usage limit reached"
    two.put_account("b", {"reason": "x", "changed_at": now}, now + 600)
    await until(lambda: any(name == "b" for name, _ in heard))
    assert [name for name, _ in heard] == ["b"]
