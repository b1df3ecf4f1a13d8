"""Quota as Codex CLI sees it through the proxy: the usage endpoint on every path, the pool's
``codex.rate_limits`` and ``x-codex-*`` headers, and ``cliproxy status``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from cliproxy.cli.main import app as cli_app
from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import Proxy, run_proxy
from tests.pool.test_quota import assert_codex_cli_decodes

KEY = "sk-local-1"
AUTH = {"authorization": f"Bearer {KEY}"}
CODEX_CLI = {**AUTH, "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm", "originator": "codex_exec"}
USAGE_PATHS = ("/backend-api/wham/usage", "/api/codex/usage", "/backend-api/codex/wham/usage",
               "/backend-api/wham/usage/", "/v1/api/codex/usage")


@contextmanager
def proxy_for(fake: FakeCodex, auth: Path, **config: Any) -> Iterator[Proxy]:
    with run_proxy(auth, fake.url + "/backend-api/codex", **{"api-keys": [KEY], **config}) as running:  # type: ignore[attr-defined]
        yield running


def rate_limits(short: float, long: float, reset: float) -> dict[str, Any]:
    return {"type": "codex.rate_limits", "plan_type": "plus", "metered_limit_name": "codex",
            "rate_limits": {"allowed": True, "limit_reached": False,
                            "primary": {"used_percent": short, "window_minutes": 300, "reset_at": int(reset)},
                            "secondary": {"used_percent": long, "window_minutes": 10080,
                                          "reset_at": int(reset + 86400)}},
            "credits": {"has_credits": False, "unlimited": False, "balance": None}}


def stream_with(limits: dict[str, Any]) -> list[dict[str, Any]]:
    return [limits, *ev.text_stream()[1:]]


def served_by(fake: FakeCodex) -> list[str]:
    return [r.headers["authorization"][7:] for r in fake.inference_requests()]


def usage(proxy: Proxy, path: str = "/backend-api/wham/usage") -> dict[str, Any]:
    response = httpx.get(proxy.url + path, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def turn(proxy: Proxy, headers: dict[str, str] = CODEX_CLI, **body: Any) -> str:
    payload = {"model": "gpt-5.4", "input": "hi", "stream": True, **body}
    with httpx.stream("POST", proxy.v1 + "/responses", json=payload, headers=headers) as response:
        return response.read().decode()


def test_every_usage_path_answers_the_same_valid_body(fake: FakeCodex, accounts: Path) -> None:
    with proxy_for(fake, accounts) as proxy:
        bodies = [usage(proxy, path) for path in USAGE_PATHS]
        anonymous = httpx.get(proxy.url + "/backend-api/wham/usage")
        bare = httpx.get(proxy.url + "/wham/usage")
    for body in bodies:
        assert_codex_cli_decodes(body)
        assert body["rate_limit"] == bodies[0]["rate_limit"] and body["plan_type"] == bodies[0]["plan_type"]
    assert bodies[0]["rate_limit"]["allowed"] is True
    assert anonymous.status_code == bare.status_code == 401  # a client key is needed once keys are set


def test_rate_limits_events_feed_the_pool_and_codex_cli_sees_the_pool(fake: FakeCodex, accounts: Path) -> None:
    reset = time.time() + 3600
    fake.script("tok-a", *(Reply(events=stream_with(rate_limits(20, 10, reset))) for _ in range(2)))
    fake.script("tok-b", *(Reply(events=stream_with(rate_limits(95, 30, reset + 600))) for _ in range(2)))
    with proxy_for(fake, accounts) as proxy:
        turn(proxy, prompt_cache_key="t1")
        turn(proxy, prompt_cache_key="t2")
        plain = turn(proxy, headers=AUTH, prompt_cache_key="t3")  # an OpenAI SDK client, not Codex CLI
        body = usage(proxy)
        with httpx.stream("POST", proxy.url + "/backend-api/codex/responses", headers=CODEX_CLI,
                          json={"model": "gpt-5.4", "input": "hi", "stream": True}) as response:
            seen = response.read().decode()
            quota_headers = dict(response.headers)
    assert "codex.rate_limits" not in plain  # /v1/responses SDK clients never see it
    window = body["rate_limit"]["primary_window"]
    assert window["used_percent"] == round((20 + 95) / 2) and window["reset_at"] == int(reset)
    assert body["rate_limit"]["secondary_window"]["limit_window_seconds"] == 604800
    event = json.loads(seen.split("event: codex.rate_limits\ndata: ")[1].split("\n")[0])
    assert served_by(fake) == ["tok-a", "tok-b", "tok-a", "tok-b"]
    assert event["rate_limits"]["primary"]["used_percent"] == 58  # the pool's mean, not b's 95
    assert quota_headers["x-codex-primary-used-percent"] == "58"
    assert quota_headers["x-codex-primary-window-minutes"] == "300"


def test_headers_of_an_answer_update_the_windows(fake: FakeCodex, accounts: Path) -> None:
    reset = int(time.time()) + 5000
    no_event = ev.text_stream()[1:]
    headers = {"x-codex-primary-used-percent": "29", "x-codex-primary-window-minutes": "10080",
               "x-codex-primary-reset-at": str(reset), "x-codex-secondary-used-percent": "0",
               "x-codex-secondary-window-minutes": "0", "x-codex-secondary-reset-at": ""}
    fake.script("tok-a", Reply(events=no_event, headers=headers))
    with proxy_for(fake, accounts, routing={"strategy": "fill-first"}) as proxy:
        turn(proxy)
        body = usage(proxy)
    # the weekly window came in the primary slot; b, never used, counts as 0 %
    assert body["rate_limit"]["secondary_window"]["used_percent"] == round(29 / 2)
    assert body["rate_limit"]["secondary_window"]["reset_at"] == reset
    assert body["rate_limit"]["primary_window"] is None


def test_allowed_while_any_account_can_serve(fake: FakeCodex, accounts: Path) -> None:
    limit = {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                       "plan_type": "plus", "resets_in_seconds": 300}}
    fake.script("tok-a", Reply(status=429, body=limit))
    fake.script("tok-b", Reply(), Reply(status=429, body=limit))
    with proxy_for(fake, accounts, routing={"strategy": "fill-first"}) as proxy:
        turn(proxy, headers=AUTH)
        one_left = usage(proxy)
        turn(proxy, headers=AUTH)
        none_left = usage(proxy)
    assert one_left["rate_limit"]["allowed"] is True and one_left["rate_limit_reached_type"] is None
    assert none_left["rate_limit"]["allowed"] is False and none_left["rate_limit"]["limit_reached"] is True
    assert none_left["rate_limit_reached_type"] == {"type": "rate_limit_reached"}


def test_status_command_live_and_from_the_state_file(fake: FakeCodex, accounts: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"auth-dir: {accounts}\napi-keys: [{KEY}]\n")
    fake.script("tok-b", Reply(status=429, body={"error": {"type": "usage_limit_reached", "message": "spent",
                                                           "resets_in_seconds": 900}}))
    runner = CliRunner()
    with proxy_for(fake, accounts, routing={"strategy": "fill-first"}) as proxy:
        turn(proxy, headers=AUTH)
        turn(proxy, headers=AUTH, prompt_cache_key="x")
        live = runner.invoke(cli_app, ["status", "--config", str(config), "--url", proxy.url, "--json"])
        table = runner.invoke(cli_app, ["status", "--config", str(config), "--url", proxy.url])
        denied = httpx.get(proxy.url + "/v0/local/status", headers={"x-cliproxy-local-token": "guess"})
    assert live.exit_code == 0, live.output
    data = json.loads(live.output)
    assert data["source"].startswith("live")
    states = {a["name"]: a for a in data["accounts"]}
    assert states["a@example.com"]["requests"] == 2 and states["a@example.com"]["state"] == "available"
    assert "a@example.com" in table.output and "available" in table.output
    assert "#1" in table.output  # the name an error sent to a client uses for this account
    assert denied.status_code == 401
    assert "tok-a" not in live.output and KEY not in live.output
    offline = runner.invoke(cli_app, ["status", "--config", str(config)])
    assert offline.exit_code == 0, offline.output
    assert "server not running" in offline.output and "a@example.com" in offline.output
    assert not (accounts / ".state" / "server.json").exists()


def test_workspace_routing_discovery_is_answered_for_codex_cli(fake: FakeCodex, accounts: Path) -> None:
    """Codex CLI's TUI exits ("workspace routing discovery failed") unless this answers first."""
    with proxy_for(fake, accounts) as proxy:
        check = httpx.get(proxy.url + "/backend-api/wham/accounts/check",
                          headers={**AUTH, "chatgpt-account-id": "acct-me"})
    assert check.status_code == 200
    body = check.json()
    assert body["account_ordering"] == ["acct-me"]
    assert body["accounts"] == [{"id": "acct-me", "workspace_backend_origin": "https://chatgpt.com",
                                 "account_routing_override": "NO_CONSTRAINT"}]
    assert not fake.requests  # nothing of it reaches the backend
