"""``cliproxy accounts push / pull / key`` and ``state.accounts: redis``, run as a user runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from cliproxy.auth.redis_store import new_key
from tests.fakes.redis_server import RedisServer
from tests.helpers import write_account

KEY = new_key()
SECRETS = ("tok-a", "tok-b", "rt-a", "rt-b")


def config(tmp_path: Path, name: str, server: RedisServer, auth_dir: Path, accounts: str = "files") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"auth-dir: {auth_dir}\nstate:\n  backend: redis\n  url: {server.url}\n  prefix: t\n"
                    f"  accounts: {accounts}\n")
    return path


def cliproxy(*args: str | Path, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")}
    if key is not None:
        env["CLIPROXY_ACCOUNTS_KEY"] = key
    return subprocess.run([sys.executable, "-m", "cliproxy", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=60)


def said(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def pushed(tmp_path: Path, server: RedisServer) -> Path:
    """Two accounts in an auth dir, pushed to Redis; the auth dir."""
    source = tmp_path / "here"
    write_account(source, "a", "tok-a", "acct_a")
    write_account(source, "b", "tok-b", "acct_b")
    done = cliproxy("accounts", "push", "--config", config(tmp_path, "push", server, source))
    assert done.returncode == 0, said(done)
    assert "2 account(s) copied" in done.stdout
    assert not any(secret in said(done) for secret in SECRETS)
    return source


def test_push_then_pull_writes_the_same_accounts_into_another_auth_dir(tmp_path: Path,
                                                                       redis_server: RedisServer) -> None:
    source, elsewhere = pushed(tmp_path, redis_server), tmp_path / "there"
    done = cliproxy("accounts", "pull", "--config", config(tmp_path, "pull", redis_server, elsewhere))
    assert done.returncode == 0, said(done)
    assert "2 account(s) copied" in done.stdout and not any(secret in said(done) for secret in SECRETS)
    for name in ("codex-a.json", "codex-b.json"):
        assert json.loads((elsewhere / name).read_text()) == json.loads((source / name).read_text())
        assert stat.S_IMODE((elsewhere / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700
    again = cliproxy("accounts", "pull", "--config", config(tmp_path, "pull", redis_server, elsewhere))
    assert "0 account(s) copied" in again.stdout and "2 already the same there" in again.stdout


def test_pull_keeps_a_newer_file_unless_forced(tmp_path: Path, redis_server: RedisServer) -> None:
    pushed(tmp_path, redis_server)
    newer = write_account(tmp_path / "there", "a", "tok-a-newer", "acct_a", last_refresh="2026-12-01T00:00:00Z")
    pull = config(tmp_path, "pull", redis_server, tmp_path / "there")
    refused = cliproxy("accounts", "pull", "--config", pull)
    assert refused.returncode == 1
    assert "1 not overwritten" in refused.stderr and "codex-a.json" in refused.stderr and "--force" in refused.stderr
    assert json.loads(newer.read_text())["access_token"] == "tok-a-newer"
    forced = cliproxy("accounts", "pull", "--force", "--config", pull)
    assert forced.returncode == 0, said(forced)
    assert json.loads(newer.read_text())["access_token"] == "tok-a"


def test_the_accounts_command_lists_what_is_in_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    pushed(tmp_path, redis_server)
    empty = tmp_path / "empty"
    listed = cliproxy("accounts", "--json", "--config", config(tmp_path, "r", redis_server, empty, "redis"))
    assert listed.returncode == 0, said(listed)
    assert sorted(item["email"] for item in json.loads(listed.stdout)) == ["a@example.com", "b@example.com"]
    assert not empty.exists() or not any(empty.iterdir())


def test_a_wrong_key_fails_clearly_without_a_traceback_or_a_token(tmp_path: Path,
                                                                 redis_server: RedisServer) -> None:
    pushed(tmp_path, redis_server)
    done = cliproxy("accounts", "--config", config(tmp_path, "r", redis_server, tmp_path / "x", "redis"),
                    key=new_key())
    assert done.returncode == 1
    assert "cannot be decrypted with this key" in done.stderr
    assert "Traceback" not in said(done) and not any(secret in said(done) for secret in SECRETS)


def test_accounts_in_redis_without_a_key_refuse_to_start_and_say_how_to_make_one(
        tmp_path: Path, redis_server: RedisServer) -> None:
    done = cliproxy("serve", "--config", config(tmp_path, "r", redis_server, tmp_path / "x", "redis"), key=None)
    assert done.returncode == 2
    assert "state.accounts-key" in done.stderr and "cliproxy accounts key" in done.stderr
    made = cliproxy("accounts", "key", key=None)
    assert made.returncode == 0 and len(made.stdout.strip()) == 44
    assert "Traceback" not in said(done) + said(made)


def test_with_redis_away_account_commands_say_so_without_a_traceback(tmp_path: Path,
                                                                      redis_server: RedisServer) -> None:
    pushed(tmp_path, redis_server)
    in_redis = config(tmp_path, "redis", redis_server, tmp_path / "unused", accounts="redis")
    redis_server.stop()
    for args in (("accounts",), ("accounts", "remove", "codex-a.json", "--no-revoke")):
        done = cliproxy(*args, "--config", in_redis)
        assert done.returncode == 1, said(done)
        assert "Traceback" not in said(done) and "unreachable" in said(done)
        assert not any(secret in said(done) for secret in SECRETS)
