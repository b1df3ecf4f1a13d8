"""The same promises from both backends: what one instance writes it reads back, expiry ends it, the
lease has one holder, the turn counts, heartbeats name this instance, the usage feed keeps order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cliproxy.state.base import SharedState, opaque
from cliproxy.state.embedded import EmbeddedState
from cliproxy.state.redis import RedisState
from tests.fakes.redis_server import running_redis


@pytest.fixture(params=["embedded", "redis"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SharedState]:
    if request.param == "embedded":
        yield EmbeddedState(tmp_path / "leases")
        return
    with running_redis(tmp_path) as server:
        shared = RedisState(server.url, prefix="t")
        await shared.start()
        try:
            yield shared
        finally:
            await shared.close()


async def test_an_account_state_is_kept_until_it_expires(state: SharedState) -> None:
    now = time.time()
    state.put_account("a", {"cooling_until": now + 60}, expires_at=now + 60)
    state.put_account("b", {"cooling_until": now - 1}, expires_at=now - 1)
    await state.flush()
    assert await state.accounts() == {"a": {"cooling_until": now + 60}}


async def test_a_newer_state_replaces_the_older_and_an_ended_one_is_gone(state: SharedState) -> None:
    now = time.time()
    state.put_account("a", {"reason": "rate limited"}, expires_at=now + 60)
    await state.flush()
    state.put_account("a", {"reason": ""}, expires_at=now)
    await state.flush()
    assert await state.accounts() == {}


async def test_a_session_binding_is_read_back(state: SharedState) -> None:
    state.put_binding("session-1", "gpt-5.4", "a", ttl=60)
    await state.flush()
    assert await state.binding("session-1", "gpt-5.4") == "a"
    assert await state.binding("session-1", "gpt-5.5") is None
    assert await state.binding("session-2", "gpt-5.4") is None


async def test_the_live_bindings_are_listed_by_hash_and_bounded(state: SharedState) -> None:
    state.put_binding("session-1", "gpt-5.4", "a", ttl=60)
    state.put_binding("session-2", "gpt-5.4", "b", ttl=0.001)
    await state.flush()
    await asyncio.sleep(0.05)  # let the short one expire (its expiry is the store's own)
    [found] = await state.bindings(limit=10)
    assert (found.key, found.account) == (opaque("session-1", "gpt-5.4"), "a")
    assert 0 < found.ttl <= 60
    assert "session-1" not in found.key
    state.put_binding("session-3", "gpt-5.4", "c", ttl=60)
    await state.flush()
    assert len(await state.bindings(limit=1)) == 1


async def test_the_turn_counts_up_per_scope(state: SharedState) -> None:
    assert [await state.turn("m"), await state.turn("m"), await state.turn("other")] == [1, 2, 1]
    assert await state.turn("m", 5) == 7  # an instance's picks since it last counted, at once


async def test_the_lease_has_one_holder_and_the_next_waits_for_it(state: SharedState) -> None:
    order: list[str] = []
    first_in = asyncio.Event()

    async def hold(who: str) -> None:
        async with state.lease("account-1"):
            order.append(f"{who} in")
            first_in.set()
            await asyncio.sleep(0.1)
            order.append(f"{who} out")

    first = asyncio.create_task(hold("first"))
    await first_in.wait()
    await asyncio.gather(first, hold("second"))
    assert order == ["first in", "first out", "second in", "second out"]


async def test_leases_of_two_accounts_do_not_wait_for_each_other(state: SharedState) -> None:
    async with state.lease("account-1"):
        await asyncio.wait_for(_enter(state, "account-2"), 5)


async def _enter(state: SharedState, account: str) -> None:
    async with state.lease(account):
        return


async def test_the_live_instances_include_this_one(state: SharedState) -> None:
    async def beating() -> list[str]:
        while not (found := [str(beat["instance"]) for beat in await state.instances()]):
            await asyncio.sleep(0.02)
        return found

    assert state.instance in await asyncio.wait_for(beating(), 10)


async def test_the_usage_feed_keeps_order_and_resumes_after_a_position(state: SharedState) -> None:
    for n in range(3):
        state.put_usage({"n": n})
    await state.flush()
    everything = await state.usage_after("0", 10)
    assert [entry.record for entry in everything] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert {entry.instance for entry in everything} == {state.instance}
    rest = await state.usage_after(everything[0].position, 10)
    assert [entry.record for entry in rest] == [{"n": 1}, {"n": 2}]
