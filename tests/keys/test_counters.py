"""Client-key limits on a frozen clock: admitted up to the limit, refused with the right reset,
admitted again once the window has moved; bursts, releases and a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from cliproxy.config.load import parse_config
from cliproxy.keys.counters import LimitReached, MemoryCounters, Reservation
from cliproxy.keys.model import KeyRing, KeySpec

# Wednesday 2026-07-15 10:20:30 UTC: inside a minute, an hour, a day and a week, not on their edges.
NOW = datetime(2026, 7, 15, 10, 20, 30, tzinfo=UTC).timestamp()


def key(*limits: dict[str, object]) -> KeySpec:
    config = parse_config({"client-keys": [{"name": "team", "key": "sk-team-0123456789", "limits": list(limits)}]})
    spec = KeyRing(config).find("sk-team-0123456789")
    assert spec is not None
    return spec


def reserve(counters: MemoryCounters, spec: KeySpec, now: float, estimate: int = 0) -> Reservation:
    return asyncio.run(counters.reserve(spec, estimate, now))


def refusal(counters: MemoryCounters, spec: KeySpec, now: float, estimate: int = 0) -> LimitReached:
    with pytest.raises(LimitReached) as caught:
        reserve(counters, spec, now, estimate)
    return caught.value


def test_a_calendar_hour_admits_up_to_the_limit_then_refuses_until_the_next_hour() -> None:
    counters, spec = MemoryCounters(), key({"requests": 3, "per": "hour", "window": "calendar"})
    for second in range(3):
        reserve(counters, spec, NOW + second)
    refused = refusal(counters, spec, NOW + 10)
    assert refused.reset_at == datetime(2026, 7, 15, 11, 0, tzinfo=UTC).timestamp()
    assert refused.limit.describe() == "3 requests per hour (calendar, UTC)"
    reserve(counters, spec, refused.reset_at)  # the next hour starts empty


def test_a_calendar_week_starts_on_monday_utc() -> None:
    counters, spec = MemoryCounters(), key({"requests": 1, "per": "week", "window": "calendar"})
    reserve(counters, spec, NOW)
    assert refusal(counters, spec, NOW).reset_at == datetime(2026, 7, 20, 0, 0, tzinfo=UTC).timestamp()


def test_a_rolling_minute_frees_the_oldest_request_first() -> None:
    counters, spec = MemoryCounters(), key({"requests": 2, "per": "minute"})
    reserve(counters, spec, NOW)
    reserve(counters, spec, NOW + 20)
    refused = refusal(counters, spec, NOW + 30)
    assert refused.reset_at - NOW == pytest.approx(60, abs=1)  # a rolling slice is 1 s of a minute
    assert refused.reset_at <= NOW + 60
    reserve(counters, spec, refused.reset_at)  # the first request has left the window
    assert refusal(counters, spec, refused.reset_at).reset_at - NOW == pytest.approx(80, abs=1)


def test_a_token_limit_counts_the_settled_usage_not_the_estimate() -> None:
    counters, spec = MemoryCounters(), key({"tokens": 100, "per": "day", "window": "calendar"})
    first = reserve(counters, spec, NOW, estimate=10)
    counters.settle(first, 95)
    reserve(counters, spec, NOW, estimate=10)  # 95 < 100: admitted, now 105 counted
    assert refusal(counters, spec, NOW).limit.unit == "tokens"


def test_fifty_at_once_against_ten_never_pass_the_limit() -> None:
    counters, spec = MemoryCounters(), key({"requests": 10, "per": "hour"})

    async def burst() -> list[bool]:
        async def one() -> bool:
            try:
                await counters.reserve(spec, 0, NOW)
            except LimitReached:
                return False
            return True
        return list(await asyncio.gather(*(one() for _ in range(50))))

    assert sum(asyncio.run(burst())) == 10


def test_a_token_burst_overshoots_by_at_most_one_estimate() -> None:
    counters, spec = MemoryCounters(), key({"tokens": 1000, "per": "hour"})

    async def burst() -> int:
        async def one() -> int:
            try:
                reservation = await counters.reserve(spec, 300, NOW)
            except LimitReached:
                return 0
            await asyncio.sleep(0)
            counters.settle(reservation, 300)
            return 300
        return sum(await asyncio.gather(*(one() for _ in range(50))))

    assert 1000 <= asyncio.run(burst()) < 1000 + 300


def test_a_released_request_counts_for_nothing_and_settles_only_once() -> None:
    counters, spec = MemoryCounters(), key({"requests": 1, "per": "day"})
    failed = reserve(counters, spec, NOW, estimate=50)
    counters.release(failed)
    counters.settle(failed, 500)  # a second close of the same request changes nothing
    done = reserve(counters, spec, NOW)
    assert [u.used for u in asyncio.run(counters.usage(spec, NOW))] == [1]
    counters.settle(done, 0)


def test_counts_survive_a_restart_through_their_plain_data() -> None:
    counters, spec = MemoryCounters(), key({"requests": 2, "per": "5h", "window": "calendar"})
    reserve(counters, spec, NOW)
    reserve(counters, spec, NOW)
    assert counters.dirty
    again = MemoryCounters()
    again.restore(counters.export_state(), NOW + 60)
    assert refusal(again, spec, NOW + 60).limit.window.per == "5h"
