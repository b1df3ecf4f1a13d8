"""Wrong client keys are throttled per client address: ten a minute, then 429 with Retry-After for
that address, while a right key always passes."""

from __future__ import annotations

import httpx
import pytest

from cliproxy.errors import ProxyError
from cliproxy.server.access import KeyFailures
from tests.helpers import Proxy

RIGHT = {"authorization": "Bearer sk-local-1"}
WRONG = {"authorization": "Bearer sk-guess"}


def test_the_eleventh_wrong_key_in_a_minute_is_429_and_a_right_key_still_passes(proxy: Proxy) -> None:
    with httpx.Client(base_url=proxy.v1, trust_env=False) as client:
        guesses = [client.get("/models", headers=WRONG).status_code for _ in range(10)]
        throttled = client.get("/models", headers=WRONG)
        anthropic = client.post("/messages", headers={"x-api-key": "sk-guess"}, json={})
        right = client.get("/models", headers=RIGHT)
        missing = client.get("/models")
    assert guesses == [401] * 10
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "too_many_wrong_keys"
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    assert anthropic.status_code == 429 and anthropic.json()["type"] == "error"  # in the route's dialect
    assert right.status_code == 200
    assert missing.status_code == 401  # no key is no guess


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_is_per_address_and_ends_when_the_window_has_passed() -> None:
    clock = Clock()
    failures = KeyFailures(limit=3, window=60, clock=clock)
    for _ in range(3):
        failures.failed("127.0.0.1")
        clock.now += 1
    with pytest.raises(ProxyError) as refused:
        failures.failed("127.0.0.1")
    assert refused.value.status == 429 and refused.value.retry_after == 57
    failures.failed("10.0.0.2")  # another address is not affected
    with pytest.raises(ProxyError):
        failures.failed("127.0.0.9")  # every loopback address is this machine
    clock.now += 57
    failures.failed("127.0.0.1")  # the oldest failure left the window: one more guess


def test_memory_is_bounded_by_the_number_of_addresses_remembered() -> None:
    failures = KeyFailures(limit=2, window=60, addresses=100)
    for number in range(10_000):
        failures.failed(f"10.0.{number // 256}.{number % 256}")
    assert len(failures._seen) == 100
