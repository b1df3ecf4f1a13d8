"""``GET /metrics``: off by default, behind the client keys when on, counters moving with requests."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import write_account
from tests.serve_process import run_configured

KEY = "sk-metrics-reader-1"


def value(text: str, metric: str) -> float:
    match = re.search(rf"^{re.escape(metric)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def chat(url: str, **extra: object) -> httpx.Response:
    body = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], **extra}
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"})


def test_metrics_are_off_by_default(tmp_path: Path, fake: FakeCodex) -> None:
    with run_configured(tmp_path, fake.url) as proxy:  # type: ignore[attr-defined]
        assert httpx.get(proxy.url + "/metrics").status_code == 404


def test_metrics_need_a_client_key_and_move_with_requests(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, f"metrics-enabled: true\napi-keys: [{KEY}]\n") as proxy:
        assert httpx.get(proxy.url + "/metrics").status_code == 401
        auth = {"authorization": f"Bearer {KEY}"}
        before = httpx.get(proxy.url + "/metrics", headers=auth).text
        ok = 'cliproxy_requests_total{dialect="openai",model="gpt-5.4",status="200"}'
        assert value(before, ok) == 0
        assert chat(proxy.url).status_code == 200
        assert chat(proxy.url, stream=True).status_code == 200
        fake.script("tok-a", Reply(status=400, body={"detail": "Unsupported parameter: x"}))
        assert chat(proxy.url).status_code == 400
        after = httpx.get(proxy.url + "/metrics", headers=auth).text
    assert value(after, ok) == 2
    assert value(after, 'cliproxy_request_errors_total{error="bad_request"}') == 1
    assert value(after, 'cliproxy_time_to_first_token_seconds_count{dialect="openai"}') == 1
    assert value(after, 'cliproxy_tokens_total{kind="output"}') == 10
    assert value(after, "cliproxy_active_streams") == 0
    assert value(after, 'cliproxy_accounts{state="available"}') == 1
