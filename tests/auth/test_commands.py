"""The account commands: ``login`` as a real subprocess (the test plays the browser or approves the
device code), ``accounts`` and ``import-codex`` through click's runner."""

from __future__ import annotations

import json
import os
import queue
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
import httpx
import orjson
import pytest
from click.testing import CliRunner

from cliproxy.auth.store import FileStore
from cliproxy.cli import accounts, login, options
from tests.auth.conftest import seed_account
from tests.fakes.issuer import FakeIssuer, Identity, Scripted, unsigned_jwt
from tests.fakes.serving import free_port


def cli() -> list[str]:
    """The ``cliproxy`` command as a user runs it."""
    return [sys.executable, "-m", "cliproxy"]


@pytest.fixture
def env(issuer: FakeIssuer, accounts_dir: Path, tmp_path: Path) -> dict[str, str]:
    values = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                                              "BROWSER")}
    values.update(CLIPROXY_OAUTH_ISSUER=issuer.url, CLIPROXY_AUTH_DIR=str(accounts_dir),
                  CLIPROXY_CONFIG=str(tmp_path / "absent.yaml"), HOME=str(tmp_path),
                  CODEX_HOME=str(tmp_path / "codex"), PYTHONPATH=os.pathsep.join(sys.path))
    return values


class Lines:
    """A subprocess's stdout, line by line, with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, needle: str, timeout: float = 15) -> str:
        while True:
            line = self._queue.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"{needle!r} never printed; got: {''.join(self.seen)}")
            self.seen.append(line)
            if needle in line:
                return line

    def rest(self) -> str:
        while (line := self._queue.get(timeout=15)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


@pytest.fixture
def spawn(env: dict[str, str]) -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], Lines]:
        proc = subprocess.Popen([*cli(), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        procs.append(proc)
        assert proc.stdout is not None
        return proc, Lines(proc.stdout)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def assert_account_file(accounts_dir: Path) -> dict[str, Any]:
    files = list(accounts_dir.glob("*.json"))
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    record: dict[str, Any] = json.loads(files[0].read_text())
    assert record["type"] == "codex" and record["email"] == "u@example.com"
    assert record["account_id"] == "acct_1" and record["disabled"] is False
    assert record["refresh_token"].startswith("rt_") and record["access_token"] and record["id_token"]
    return record


def test_login_no_browser_as_a_subprocess(spawn: Any, issuer: FakeIssuer, accounts_dir: Path) -> None:
    proc, lines = spawn("login", "--no-browser", "--callback-port", str(free_port()))
    url = lines.until("/oauth/authorize").strip()
    redirect = httpx.get(url).headers["location"]  # the test is the browser
    assert redirect.startswith("http://localhost:1455/auth/callback?code=")
    proc.stdin.write(redirect + "\n")
    proc.stdin.flush()
    output = lines.rest()
    assert proc.wait(timeout=15) == 0, proc.stderr.read()
    assert "Signed in as u@example.com (plus plan)." in output
    assert_account_file(accounts_dir)
    stderr = proc.stderr.read()
    assert not [s for s in issuer.secrets if s in output + stderr]


def test_login_device_as_a_subprocess(spawn: Any, issuer: FakeIssuer, accounts_dir: Path) -> None:
    proc, lines = spawn("login", "--device", "--no-browser")
    assert f"{issuer.url}/codex/device" in lines.until("Open")
    code = lines.until("Enter").split()[-1]
    issuer.approve(code)  # the user approves on their phone
    output = lines.rest()
    assert proc.wait(timeout=15) == 0, proc.stderr.read()
    assert "Signed in as u@example.com" in output and "Never share it" in output
    assert_account_file(accounts_dir)
    assert not [s for s in issuer.secrets if s in output]


def test_login_on_a_busy_port_exits_13(spawn: Any, issuer: FakeIssuer, accounts_dir: Path) -> None:
    # §9 test 10 through the CLI
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc, _lines = spawn("login", "--callback-port", str(port))
        assert proc.wait(timeout=15) == 13
    assert f"port {port} is already in use" in proc.stderr.read()
    assert issuer.requests == [] and not list(accounts_dir.glob("*.json"))


# ---- in-process commands ----------------------------------------------------------------------

@pytest.fixture
def run(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Invoke the commands in-process (logging set-up left to pytest)."""
    monkeypatch.setattr(options, "setup_logging", lambda debug: None)
    app = click.Group()
    login.register(app)
    accounts.register(app)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), env=env)

    return invoke


ACCOUNT_ID = "8f1c4b7e-2d3a-4c5b-9e6f-0a1b2c3da2b3"


@pytest.fixture
def three_accounts(issuer: FakeIssuer, store: FileStore) -> dict[str, str]:
    names = {}
    names["ok"], _ = seed_account(issuer, store, Identity("u@example.com", ACCOUNT_ID, "plus"), label="main")
    names["off"], _ = seed_account(issuer, store, Identity("team@example.com", "0c5e7a21-team", "team"),
                                   disabled=True)
    names["bad"], record = seed_account(issuer, store, Identity("old@example.com", "51d0e8aa-old", "pro"))
    store.write(names["bad"], {**record, "auth_error": {"code": "refresh_token_reused", "message":
                                                        "its refresh token was already used"}})
    return names


def test_accounts_lists_a_table_and_json(run: Any, three_accounts: dict[str, str], issuer: FakeIssuer) -> None:
    table = run("accounts")
    assert table.exit_code == 0, table.output
    for text in ("u@example.com (main)", "plus", "active", "disabled", "needs login", "in 9d 23h",
                 "8f1c…a2b3",
                 "old@example.com needs a new login (token reused): its refresh token was already used."):
        assert text in table.output
    assert ACCOUNT_ID not in table.output
    listed = run("accounts", "list", "--json")
    data = orjson.loads(listed.output)
    assert [(a["email"], a["status"]) for a in data] == [("old@example.com", "needs login"),
                                                        ("team@example.com", "disabled"),
                                                        ("u@example.com", "active")]
    assert data[2]["account_id"] == "8f1c…a2b3" and data[2]["expires_at"]
    assert "already used" in data[0]["last_error"] and data[0]["error_code"] == "refresh_token_reused"
    assert not [s for s in issuer.secrets if s in table.output + listed.output]


def test_no_accounts_says_what_to_do(run: Any, accounts_dir: Path) -> None:
    result = run("accounts")
    assert result.exit_code == 0 and "cliproxy login" in result.output


def test_disable_enable_by_email_or_label(run: Any, three_accounts: dict[str, str], store: FileStore) -> None:
    assert run("accounts", "disable", "main").exit_code == 0
    assert (store.read(three_accounts["ok"]) or {})["disabled"] is True
    assert run("accounts", "enable", "old@example.com").exit_code == 0
    enabled = store.read(three_accounts["bad"]) or {}
    assert enabled["disabled"] is False and "auth_error" not in enabled
    missing = run("accounts", "enable", "nobody")
    assert missing.exit_code == 1 and "u@example.com" in missing.output


def test_remove_revokes_then_deletes(run: Any, three_accounts: dict[str, str], store: FileStore,
                                     issuer: FakeIssuer) -> None:
    record = store.read(three_accounts["ok"]) or {}
    result = run("accounts", "remove", "u@example.com")
    assert result.exit_code == 0 and "revoked" in result.output
    assert three_accounts["ok"] not in store.names()
    assert issuer.on("/oauth/revoke")[0].body["token"] == record["refresh_token"]


def test_refresh_command(run: Any, three_accounts: dict[str, str], store: FileStore, issuer: FakeIssuer) -> None:
    before = store.read(three_accounts["ok"]) or {}
    result = run("accounts", "refresh", "main")
    assert result.exit_code == 0 and "Refreshed main (u@example.com)" in result.output
    assert (store.read(three_accounts["ok"]) or {})["refresh_token"] != before["refresh_token"]
    failed = run("accounts", "refresh", "old@example.com")
    assert failed.exit_code == 1 and "cliproxy login" in failed.output
    assert len(issuer.refresh_calls) == 1


def test_refresh_permanent_failure_is_reported(run: Any, three_accounts: dict[str, str], issuer: FakeIssuer,
                                               store: FileStore) -> None:
    issuer.token_replies.append(Scripted(401, {"error": {"code": "refresh_token_invalidated"}}))
    result = run("accounts", "refresh", "u@example.com")
    assert result.exit_code == 1 and "was revoked" in result.output
    assert "needs login" in run("accounts").output


def write_codex_auth(home: Path, **overrides: Any) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    data = {"auth_mode": "chatgpt", "OPENAI_API_KEY": None, "last_refresh": "2026-06-01T10:20:30.123456Z",
            "tokens": {"id_token": unsigned_jwt({"email": "u@example.com", "https://api.openai.com/auth": {
                "chatgpt_account_id": "acct_1", "chatgpt_plan_type": "plus"}}),
                       "access_token": unsigned_jwt({"exp": 2_000_000_000}), "refresh_token": "rt_codex",
                       "account_id": "acct_1"}, **overrides}
    path = home / "auth.json"
    path.write_text(json.dumps(data))
    return path


def test_import_codex(run: Any, tmp_path: Path, store: FileStore) -> None:
    # §9 test 46
    write_codex_auth(tmp_path / "codex")
    result = run("import-codex")
    assert result.exit_code == 0, result.output
    assert "Imported u@example.com (plus plan)" in result.output and "single-use" in result.output
    (name,) = store.names()
    assert (store.read(name) or {})["refresh_token"] == "rt_codex"


def test_import_codex_refusals(run: Any, tmp_path: Path) -> None:
    missing = run("import-codex", str(tmp_path / "nowhere.json"))
    assert missing.exit_code == 1 and 'cli_auth_credentials_store = "file"' in missing.output
    apikey = write_codex_auth(tmp_path / "k", auth_mode="apikey", OPENAI_API_KEY="sk-x")
    refused = run("import-codex", str(apikey))
    assert refused.exit_code == 1 and "API key" in refused.output


def test_bad_config_exits_2(run: Any, env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: [")
    assert run("accounts", "--config", str(bad)).exit_code == 2
