"""Two pools (two instances) on one Redis: what one learns about an account or a session, the other
acts on, and an instance that starts late learns what is already known."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cliproxy.errors import Outcome
from cliproxy.pool.core import Pool
from cliproxy.pool.shared import PoolShare
from cliproxy.state.redis import RedisState
from tests.fakes.redis_server import RedisServer
from tests.pool.helpers import MODEL, cred, failure
from tests.state.waiting import until

ACCOUNTS = [cred("a"), cred("b")]


async def instance(server: RedisServer) -> tuple[Pool, PoolShare]:
    pool = Pool(ACCOUNTS, "fill-first")
    state = RedisState(server.url, prefix="t")
    share = PoolShare(pool, state)
    await state.start()
    await share.start()
    return pool, share


async def stop(share: PoolShare) -> None:
    await share.close()
    await share.state.close()


@pytest.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[tuple[Pool, Pool]]:
    (one, first), (other, second) = await instance(redis_server), await instance(redis_server)
    await until(lambda: len(_live(redis_server)) == 2)
    try:
        yield one, other
    finally:
        await stop(first)
        await stop(second)


def _live(server: RedisServer) -> list[bytes]:
    return list(server.client().scan_iter(match="t:instance:*"))


def usage_limit() -> Any:
    return failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=3600, message="The usage limit has been reached")


async def test_a_rest_on_one_instance_moves_the_other_off_the_account(two: tuple[Pool, Pool]) -> None:
    one, other = two
    assert other.pick(ACCOUNTS, model=MODEL).id == "codex-a.json"
    one.record(ACCOUNTS[0], MODEL, usage_limit())
    await until(lambda: other.state("codex-a.json").resting)
    assert other.pick(ACCOUNTS, model=MODEL).id == "codex-b.json"
    assert "usage limit" in other.state("codex-a.json").reason
    assert other.state("codex-a.json").requests == 0  # counters stay per instance


async def test_a_success_elsewhere_ends_the_rest_here_too(two: tuple[Pool, Pool]) -> None:
    one, other = two
    one.record(ACCOUNTS[0], MODEL, failure(Outcome.FORBIDDEN, 403))
    await until(lambda: other.state("codex-a.json").resting)
    assert one.reset("codex-a.json")
    await until(lambda: not other.state("codex-a.json").resting)
    assert other.pick(ACCOUNTS, model=MODEL).id == "codex-a.json"


async def test_a_session_bound_on_one_instance_goes_to_the_same_account_on_the_other(two: tuple[Pool, Pool]) -> None:
    one, other = two
    one.record(ACCOUNTS[0], MODEL, failure(Outcome.FORBIDDEN, 403))
    assert one.pick(ACCOUNTS, model=MODEL, session="s1").id == "codex-b.json"
    assert one.reset("codex-a.json")  # a is back: a new session would go there (fill-first)
    await until(lambda: other.session_account("s1", MODEL))
    await until(lambda: not other.state("codex-a.json").resting)
    assert other.pick(ACCOUNTS, model=MODEL, session="s1").id == "codex-b.json"


async def test_an_instance_that_starts_later_learns_the_rests_already_known(redis_server: RedisServer) -> None:
    one, first = await instance(redis_server)
    try:
        one.record(ACCOUNTS[0], MODEL, usage_limit())
        await first.state.flush()
        late, second = await instance(redis_server)
        try:
            assert late.state("codex-a.json").resting
            assert late.pick(ACCOUNTS, model=MODEL).id == "codex-b.json"
        finally:
            await stop(second)
    finally:
        await stop(first)


async def test_an_instance_that_starts_later_sends_a_bound_session_to_its_account(redis_server: RedisServer) -> None:
    one, first = await instance(redis_server)
    try:
        one.record(ACCOUNTS[0], MODEL, failure(Outcome.FORBIDDEN, 403))
        assert one.pick(ACCOUNTS, model=MODEL, session="s1").id == "codex-b.json"
        assert one.reset("codex-a.json")  # a is back: a new session would go there (fill-first)
        await first.state.flush()
        late, second = await instance(redis_server)
        try:
            await until(lambda: late.snapshot()["sessions"] == 1)
            assert late.pick(ACCOUNTS, model=MODEL, session="s1").id == "codex-b.json"
            assert late.pick(ACCOUNTS, model=MODEL, session="s2").id == "codex-a.json"
        finally:
            await stop(second)
    finally:
        await stop(first)


def _account_notices(pubsub: Any) -> int:
    """The account notices heard so far (the subscriber's buffer holds them; 0.5 s of quiet ends it)."""
    count = 0
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        count += b'"kind":"account"' in message["data"]
    return count


async def test_successes_that_change_nothing_shared_are_not_written(redis_server: RedisServer) -> None:
    pubsub = redis_server.client().pubsub()
    pubsub.subscribe("t:notices")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # listening before anything is written
    one, first = await instance(redis_server)
    try:
        for _ in range(20):
            one.record(ACCOUNTS[0], MODEL, None)
            await first.state.flush()
        one.record(ACCOUNTS[0], MODEL, usage_limit())
        await first.state.flush()
    finally:
        await stop(first)
    # the first success (news to the store), perhaps once more after the first subscription, the rest
    assert _account_notices(pubsub) <= 3
