"""A client that goes away mid-stream stops the upstream stream at once: no quota spent for nobody."""

from __future__ import annotations

import time

import httpx

from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy

TOKEN = "tok-a"
PATHS = {
    "/v1/chat/completions": {"model": "gpt-5.4", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "gpt-5.4", "stream": True, "input": "hi"},
    "/v1/messages": {"model": "gpt-5.4", "stream": True, "max_tokens": 50,
                     "messages": [{"role": "user", "content": "hi"}]},
}


def _wait_for(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_client_leaving_mid_stream_closes_the_upstream_stream(proxy: Proxy, fake: FakeCodex) -> None:
    slow = ev.text_stream([f"part {n} " for n in range(100)])  # 0.1 s apart: ~10 s in all
    for path, body in PATHS.items():
        fake.stream_ends.clear()
        fake.script(TOKEN, Reply(events=slow, delay=0.1))
        started = time.monotonic()
        with httpx.stream("POST", proxy.url + path, json=body, timeout=10,
                          headers={"authorization": "Bearer sk-local-1"}) as response:
            assert response.status_code == 200
            next(response.iter_bytes())  # content has started; now the client hangs up
        assert _wait_for(lambda: fake.stream_ends == ["abandoned"]), (path, fake.stream_ends)
        assert time.monotonic() - started < 5, path


def test_a_stream_read_to_the_end_completes_upstream(proxy: Proxy, fake: FakeCodex) -> None:
    fake.script(TOKEN, Reply(events=ev.text_stream(["a", "b"])))
    with httpx.stream("POST", proxy.url + "/v1/responses", json=PATHS["/v1/responses"],
                      headers={"authorization": "Bearer sk-local-1"}) as response:
        body = response.read()
    assert b"response.completed" in body
    assert _wait_for(lambda: fake.stream_ends == ["completed"]), fake.stream_ends
