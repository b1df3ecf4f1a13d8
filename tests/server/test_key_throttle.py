"""Wrong client keys are throttled per client address: ten a minute, then 429 with Retry-After for
that address, while a right key always passes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cliproxy.errors import ProxyError
from cliproxy.server.access import KeyFailures
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy
from tests.serve_process import serve

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


def test_x_forwarded_for_does_not_give_a_guesser_new_addresses(tmp_path: Path, fake: FakeCodex) -> None:
    """``cliproxy serve`` counts the socket's address: a local process that claims another address
    in every request is still one address."""
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with serve(tmp_path, upstream, "api-keys: [sk-local-1]\n") as server, \
            httpx.Client(base_url=server.url + "/v1", trust_env=False) as client:
        answers = [client.get("/models", headers={**WRONG, "x-forwarded-for": f"203.0.113.{n}"}).status_code
                   for n in range(11)]
        right = client.get("/models", headers={**RIGHT, "x-forwarded-for": "203.0.113.99"})
    assert answers == [401] * 10 + [429]
    assert right.status_code == 200
