"""A server configured with any documented way out starts and answers: a ``socks5://`` proxy-url,
``ALL_PROXY=socks5://…`` in its environment, or ``direct`` (once each stopped the server at start)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fakes.codex_backend import FakeCodex
from tests.helpers import run_proxy

DEAD_SOCKS = "socks5://127.0.0.1:9"  # nothing listens: a request through it would fail


@pytest.mark.parametrize(("proxy_url", "all_proxy"), [(DEAD_SOCKS, ""), ("", DEAD_SOCKS), ("direct", DEAD_SOCKS),
                                                     ("none", "")])
def test_the_server_starts_and_serves_with_every_kind_of_proxy(
        proxy_url: str, all_proxy: str, fake: FakeCodex, auth_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    if all_proxy:
        monkeypatch.setenv("ALL_PROXY", all_proxy)
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_proxy(auth_dir, upstream, **{"proxy-url": proxy_url}) as proxy, httpx.Client(trust_env=False) as client:
        models = client.get(proxy.v1 + "/models")
        answer = client.post(proxy.v1 + "/responses", json={"model": "gpt-5.4", "input": "hi"})
    assert models.status_code == 200
    goes_direct = proxy_url in ("direct", "none")
    assert answer.status_code == (200 if goes_direct else 502), answer.text
    assert len(fake.inference_requests()) == (1 if goes_direct else 0)
