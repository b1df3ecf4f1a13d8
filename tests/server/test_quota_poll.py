"""The usage poll reads each account with its own token, once per interval;
a 401 there is no account failure."""

from __future__ import annotations

import logging
import time
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from tests.fakes.codex_backend import FakeCodex, Reply, usage_body
from tests.helpers import run_proxy
from tests.server.test_pool_usage import AUTH, KEY

INTERVAL = 0.4


def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_poll_reads_every_account_once_per_interval(fake: FakeCodex, accounts: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cliproxy")
    reset = int(time.time()) + 7200
    fake.usage_default = Reply(body=usage_body(short=30, long=12, reset_at=reset))
    fake.script_usage("tok-b", *(Reply(status=401, body={"detail": "token expired"}) for _ in range(50)))
    url = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_proxy(accounts, url, **{"api-keys": [KEY], "quota": {"poll-interval": INTERVAL}}) as proxy:
        wait_for(lambda: len(fake.usage_requests()) >= 2)
        time.sleep(3 * INTERVAL)
        reads = list(fake.usage_requests())
        body = httpx.get(proxy.url + "/backend-api/wham/usage", headers=AUTH).json()
        snapshot = proxy.services.runner.pool.snapshot()
        served = httpx.post(proxy.v1 + "/responses", headers=AUTH,
                            json={"model": "gpt-5.4", "input": "hi", "stream": True}).status_code
    by_token: dict[str, list[tuple[str, float]]] = {}
    for read in reads:
        by_token.setdefault(read.headers["authorization"][7:], []).append(
            (read.headers["chatgpt-account-id"], read.at))
    assert set(by_token) == {"tok-a", "tok-b"}  # each account with its own token and account id
    assert {a for a, _ in by_token["tok-a"]} == {"acc-1"} and {a for a, _ in by_token["tok-b"]} == {"acc-2"}
    for token, calls in by_token.items():
        times = [at for _, at in calls]
        assert len(times) >= 3, token  # the first round and at least two more in 3 intervals
        assert all(later - earlier >= 0.9 * INTERVAL for earlier, later in pairwise(times)), token
    assert abs(len(by_token["tok-a"]) - len(by_token["tok-b"])) <= 1
    # a's read landed in its windows; b (401) has none and counts as 0 %, and is no failure
    assert body["rate_limit"]["primary_window"]["used_percent"] == 15
    assert body["rate_limit"]["primary_window"]["reset_at"] == reset + 18000
    states = {a["name"]: a for a in snapshot["accounts"]}
    assert states["b@example.com"]["state"] == "available" and states["b@example.com"]["errors"] == 0
    assert served == 200
    assert "answered 401" in caplog.text and "tok-b" not in caplog.text


def test_poll_off_reads_nothing(fake: FakeCodex, accounts: Path) -> None:
    url = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_proxy(accounts, url, **{"api-keys": [KEY]}) as proxy:
        httpx.get(proxy.url + "/backend-api/wham/usage", headers=AUTH)
        time.sleep(0.2)
    assert not fake.usage_requests()
