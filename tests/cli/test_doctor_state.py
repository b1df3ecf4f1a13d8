"""``cliproxy doctor`` on a deployment that shares its state in Redis: it names the Redis that
answers (never the URL's password) and the live instances, says when the account records there cannot
be opened with this config's key, and when Redis does not answer it says so instead of "no account
yet" — the line a person would otherwise chase."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from cliproxy.cli.main import app
from tests.fakes.redis_server import REDIS_PASSWORD, RedisServer
from tests.fakes.serving import free_port
from tests.helpers import write_account


def doctor(tmp_path: Path, state: str) -> Result:
    config = tmp_path / "config.yaml"
    config.write_text(f"port: {free_port()}\nstate:\n{state}")
    env = {"HOME": str(tmp_path), "CLIPROXY_AUTH_DIR": str(tmp_path / "auth"), "CLIPROXY_CONFIG": "",
           "CLIPROXY_CODEX_BASE_URL": f"http://127.0.0.1:{free_port()}", "CLIPROXY_STATE_URL": "",
           "CLIPROXY_ACCOUNTS_KEY": "", "CODEX_HOME": "", "CLAUDE_CONFIG_DIR": "", "XDG_CONFIG_HOME": ""}
    return CliRunner().invoke(app, ["doctor", "--config", str(config), "--timeout", "1"], env=env,
                              catch_exceptions=False)


def accounts(key: str, url: str) -> str:
    return f"  backend: redis\n  url: {url}\n  accounts: redis\n  accounts-key: {key}\n"


def new_key() -> str:
    from cliproxy.auth.redis_store import new_key as make

    return make()


def test_the_embedded_default_is_one_green_line(tmp_path: Path) -> None:
    done = doctor(tmp_path, "  backend: embedded\n")
    assert "✓ state     embedded: this instance alone" in done.output


def test_a_redis_that_answers_is_named_without_its_password(tmp_path: Path, locked_redis: RedisServer) -> None:
    done = doctor(tmp_path, f"  backend: redis\n  url: {locked_redis.url}\n")
    assert "✓ state     Redis " in done.output
    assert f"at 127.0.0.1:{locked_redis.port} answers (prefix 'cliproxy'); 0 live instance(s)" in done.output
    assert REDIS_PASSWORD not in done.output


def test_records_that_this_key_cannot_open_are_a_failure_that_says_why(tmp_path: Path,
                                                                       locked_redis: RedisServer) -> None:
    write_account(tmp_path / "auth", "alice", "tok-alice", "acc-1")
    written_with = new_key()
    pushed = CliRunner().invoke(app, ["accounts", "push"], env={
        "CLIPROXY_AUTH_DIR": str(tmp_path / "auth"), "CLIPROXY_CONFIG": str(_config(tmp_path, written_with,
                                                                                    locked_redis.url))})
    assert pushed.exit_code == 0, pushed.output
    good = doctor(tmp_path, accounts(written_with, locked_redis.url))
    assert "✓ state     account records: 1 in Redis, readable with this key" in good.output
    wrong = doctor(tmp_path, accounts(new_key(), locked_redis.url))
    assert "✗ state     account records: " in wrong.output and "cannot be decrypted with this key" in wrong.output
    assert "✗ accounts  kept in Redis (state.accounts: redis), which cannot be read now" in wrong.output
    assert wrong.exit_code == 1
    assert REDIS_PASSWORD not in good.output + wrong.output


def test_a_redis_that_does_not_answer_is_the_line_to_fix_not_no_account_yet(tmp_path: Path) -> None:
    done = doctor(tmp_path, accounts(new_key(), f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"))
    assert "✗ state     Redis at 127.0.0.1:" in done.output and "does not answer" in done.output
    assert "start Redis, or fix state.url" in done.output
    assert "no account yet" not in done.output
    assert REDIS_PASSWORD not in done.output
    assert done.exit_code == 1


def _config(tmp_path: Path, key: str, url: str) -> Path:
    path = tmp_path / "push.yaml"
    path.write_text("state:\n" + accounts(key, url))
    return path
