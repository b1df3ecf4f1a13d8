"""The live view: a request shows while it runs and, once finished, with its account, status and tokens."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import write_account
from tests.serve_process import run_configured, wait_for

SECRET = "live-secret-Pw31"
KEY = "sk-live-client-1"
HELD = 2.0  # the fake holds its first event this long: far more than the 20 ms the test polls at


def test_a_request_is_in_flight_while_it_runs_then_finished_with_its_tokens(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    fake.script("tok-a", Reply(first_delay=HELD))
    config = f"remote-management:\n  secret-key: {SECRET}\napi-keys: [{KEY}]\n"
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, config) as proxy, httpx.Client(base_url=proxy.url + "/dashboard") as page:
        page.headers["x-csrf-token"] = page.post("/api/login", json={"secret": SECRET}).json()["csrf"]
        answers: list[int] = []
        body = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        client = threading.Thread(target=lambda: answers.append(httpx.post(
            proxy.v1 + "/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=60,
        ).status_code))
        client.start()
        running = wait_for(lambda: page.get("/api/live").json()["in_flight"], "the request to be in flight")
        assert (running[0]["model"], running[0]["dialect"]) == ("gpt-5.4", "openai")
        client.join(60)
        assert answers == [200]
        live = wait_for(lambda: (v := page.get("/api/live").json())["finished"] and v, "the request to finish")
        assert live["in_flight"] == []
        done = live["finished"][0]
        assert (done["account"], done["status"], done["error"]) == ("a@example.com", 200, "")
        assert (done["input_tokens"], done["output_tokens"], done["total_tokens"]) == (10, 5, 15)
        assert done["request_id"] == running[0]["request_id"]
