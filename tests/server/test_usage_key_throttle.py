"""The quota routes outside ``/backend-api/`` and ``/api/`` check client keys like the rest: wrong
keys there count toward the same throttle, so they are no way around it."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Proxy

RIGHT = {"authorization": "Bearer sk-local-1"}
WRONG = {"authorization": "Bearer sk-guess"}


@pytest.mark.parametrize("path", ["/wham/usage", "/wham/accounts/check", "/v1/x/wham/usage/"])
def test_ten_wrong_keys_on_a_bare_usage_path_then_429_and_a_right_key_still_passes(proxy: Proxy, path: str) -> None:
    with httpx.Client(base_url=proxy.url, trust_env=False) as client:
        guesses = [client.get(path, headers=WRONG).status_code for _ in range(10)]
        throttled = client.get(path, headers=WRONG)
        elsewhere = client.get("/v1/models", headers=WRONG)
        right = client.get(path, headers=RIGHT)
    assert guesses == [401] * 10
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["retry-after"]) <= 60
    assert elsewhere.status_code == 429  # one count per address, whichever path guessed
    assert right.status_code == 200
