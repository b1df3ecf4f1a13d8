"""CLIProxyAPI's ``streaming.bootstrap-retries``: more tries of a request that failed before any byte."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import run_proxy

KEY = "sk-local-1"
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
BOOM = Reply(status=500, body={"detail": "Internal Server Error"})


def backend(fake: FakeCodex) -> str:
    return str(fake.url) + "/backend-api/codex"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("retries", "status", "tries"), [(0, 500, 3), (1, 200, 4)])
def test_bootstrap_retries_add_tries_on_the_only_account(fake: FakeCodex, auth_dir: Path, retries: int,
                                                        status: int, tries: int) -> None:
    # given the only account's backend fails three times before it answers
    fake.script("tok-a", BOOM, BOOM, BOOM)
    with run_proxy(auth_dir, backend(fake), **{"api-keys": [KEY]},
                   streaming={"bootstrap-retries": retries}) as proxy:
        # when a client streams once
        response = httpx.post(proxy.v1 + "/chat/completions", json=CHAT, timeout=30,
                              headers={"authorization": f"Bearer {KEY}"})
    # then one more try was granted per bootstrap retry
    assert response.status_code == status
    assert len(fake.inference_requests()) == tries
