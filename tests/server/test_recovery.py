"""Ending rests by hand (``cliproxy accounts reset``, the local endpoint), and what a start cleans up."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from cliproxy.cli.main import app as cli_app
from cliproxy.config.load import parse_config
from cliproxy.config.snapshot import Snapshot
from cliproxy.pool.core import Pool
from cliproxy.pool.store import FilePoolStore
from cliproxy.server.app import build_services
from cliproxy.upstream.classify import classify_http_error
from tests.fakes.codex_backend import FakeCodex, Reply
from tests.helpers import run_proxy, write_account

KEY = "sk-local-1"
AUTH = {"authorization": f"Bearer {KEY}"}
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}
SPENT = {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                   "resets_in_seconds": 3600}}


def saved_rests(auth: Path) -> dict[str, float]:
    accounts = json.loads((auth / ".state" / "pool.json").read_text())["accounts"]
    return {cid: account["cooling_until"] for cid, account in accounts.items()}


def test_accounts_reset_without_a_server_clears_the_saved_rest(accounts: Path, tmp_path: Path) -> None:
    # given a saved state in which a rests an hour for its quota, and no server running
    config = tmp_path / "config.yaml"
    config.write_text(f"auth-dir: {accounts}\n")
    pool = Pool([], clock=time.time)
    pool.attach(FilePoolStore.for_auth_dir(accounts))
    built = Snapshot.build(parse_config({"auth-dir": str(accounts)}))
    pool.update(built.credentials)
    pool.record(built.credentials[0], "gpt-5.4", classify_http_error(429, json.dumps(SPENT).encode(), {}))
    FilePoolStore.for_auth_dir(accounts).save(pool.export_state())
    assert saved_rests(accounts)["codex-a.json"] > time.time()
    runner = CliRunner()
    # when the user resets it by its e-mail, then again with nothing resting
    reset = runner.invoke(cli_app, ["accounts", "reset", "a@example.com", "--config", str(config)])
    again = runner.invoke(cli_app, ["accounts", "reset", "--config", str(config)])
    # then the saved state no longer holds the rest, and the second run says nothing was resting
    assert reset.exit_code == 0, reset.output
    assert "codex-a.json" in reset.output and "saved state" in reset.output
    assert saved_rests(accounts) == {"codex-a.json": 0, "codex-b.json": 0}
    assert again.exit_code == 0 and "No account was resting" in again.output


def test_the_local_reset_endpoint_returns_a_resting_account_to_a_running_server(fake: FakeCodex,
                                                                                accounts: Path) -> None:
    # given a running server in which a spent its quota (fill-first: everything goes to a while it serves;
    # no session affinity, which would keep the conversation on b)
    fake.script("tok-a", Reply(status=429, body=SPENT))
    with run_proxy(accounts, fake.url + "/backend-api/codex", **{"api-keys": [KEY]},  # type: ignore[attr-defined]
                   routing={"strategy": "fill-first", "session-affinity": False}) as proxy:
        assert httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT).status_code == 200
        token = json.loads((accounts / ".state" / "server.json").read_text())["token"]
        url = proxy.url + "/v0/local/reset"
        # when cliproxy accounts reset asks it, with the server file's token
        denied = httpx.post(url, json={}, headers={"x-cliproxy-local-token": "guess"})
        unknown = httpx.post(url, json={"name": "codex-z.json"}, headers={"x-cliproxy-local-token": token})
        reset = httpx.post(url, json={"name": "codex-a.json"}, headers={"x-cliproxy-local-token": token})
        served = httpx.post(proxy.v1 + "/chat/completions", headers=AUTH, json=CHAT)
    # then a serves again at once
    assert denied.status_code == 401 and unknown.status_code == 404
    assert reset.status_code == 200 and reset.json() == {"reset": ["codex-a.json"]}
    assert served.status_code == 200
    assert [r.headers["authorization"][7:] for r in fake.inference_requests()] == ["tok-a", "tok-b", "tok-a"]


def test_a_start_removes_temp_files_a_killed_token_write_left_and_keeps_a_fresh_one(tmp_path: Path) -> None:
    # given the auth dir holds an old temp file (holding tokens) and one being written right now
    auth = tmp_path / "auth"
    write_account(auth, "a", "tok-a", "acc-1")
    stale, fresh = auth / ".codex-a.json.xyz.tmp", auth / ".codex-a.json.abc.tmp"
    for path in (stale, fresh):
        path.write_text('{"access_token": "tok-a"}')
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    # when the server's services are built
    build_services(Snapshot.build(parse_config({"auth-dir": str(auth), "models": {"discovery": False}})),
                   "127.0.0.1")
    # then the old one is gone, the fresh one (maybe another process's write) and the account stay
    assert not stale.exists() and fresh.exists() and (auth / "codex-a.json").exists()
