"""The dashboard's ``/api/state``: the state backend and the live instances, behind the session, as
``cliproxy status`` shows them; a Redis URL's password never in the answer, connected or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.fakes.codex_backend import FakeCodex
from tests.fakes.redis_server import REDIS_PASSWORD, RedisServer
from tests.helpers import write_account
from tests.serve_process import run_configured, wait_for

SECRET = "dash-state-secret-5Rt"


def _config(redis_url: str) -> str:
    return f"remote-management:\n  secret-key: {SECRET}\nstate:\n  backend: redis\n  url: {redis_url}\n"


def _state(api: httpx.Client, url: str, csrf: str) -> tuple[dict[str, Any], str]:
    answer = api.get(url + "/dashboard/api/state", headers={"x-csrf-token": csrf})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body, answer.text


def _lost(api: httpx.Client, url: str, csrf: str) -> tuple[dict[str, Any], str] | None:
    """The answer once it says Redis is not connected, else None (to poll)."""
    state, text = _state(api, url, csrf)
    return (state, text) if state["connected"] is False else None


def test_the_state_needs_a_session_and_never_shows_the_redis_password(
        tmp_path: Path, fake: FakeCodex, locked_redis: RedisServer) -> None:
    write_account(tmp_path / "auth", "alice", "tok-a", "acc-1")
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, _config(locked_redis.url)) as proxy, httpx.Client(timeout=30) as api:
        refused = api.get(proxy.url + "/dashboard/api/state")
        assert (refused.status_code, refused.json()) == (401, {"error": "log in first"})

        csrf = api.post(proxy.url + "/dashboard/api/login", json={"secret": SECRET}).json()["csrf"]
        state, text = _state(api, proxy.url, csrf)
        assert (state["backend"], state["connected"]) == ("redis", True)
        assert [beat["instance"] for beat in state["instances"]] == [state["instance"]]
        assert REDIS_PASSWORD not in text

        locked_redis.stop()
        state, text = wait_for(lambda: _lost(api, proxy.url, csrf), "the dashboard to see Redis gone")
        assert f"Redis at 127.0.0.1:{locked_redis.port} is unreachable" in state["detail"]
        assert [beat["instance"] for beat in state["instances"]] == [state["instance"]]
        assert REDIS_PASSWORD not in text and locked_redis.url not in text
