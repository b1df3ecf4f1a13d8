"""``cliproxy doctor`` against a real ``cliproxy serve`` with the fake Codex backend: all green on a
healthy setup, and for each thing a user meets — no server, an expired login, a wrong key in Claude
Code's settings, an upstream this machine cannot reach — the right line and a non-zero exit."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner, Result

from cliproxy.cli.diagnose.network import check_upstream
from cliproxy.cli.main import app
from tests.fakes.codex_backend import FakeCodex
from tests.fakes.serving import free_port
from tests.helpers import write_account
from tests.serve_process import Server, serve

KEY = "sk-local-0123456789abcdef"


@dataclass
class Machine:
    """A user's machine: the running server, the upstream it uses, and a HOME."""

    server: Server
    upstream: str
    home: Path

    def run(self, *args: str) -> Result:
        env = {"HOME": str(self.home), "CLIPROXY_AUTH_DIR": str(self.server.auth_dir), "CLIPROXY_CONFIG": "",
               "CLIPROXY_CODEX_BASE_URL": self.upstream, "CODEX_HOME": "", "CLAUDE_CONFIG_DIR": "",
               "XDG_CONFIG_HOME": "", "HTTPS_PROXY": "", "https_proxy": "", "ALL_PROXY": "", "all_proxy": "",
               "AMP_URL": "", "AMP_API_KEY": "", "XDG_DATA_HOME": ""}
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    def doctor(self, *args: str, url: str = "") -> Result:
        return self.run("doctor", "--config", str(self.server.config), "--url", url or self.server.url,
                        "--timeout", "5", *args)


def line(result: Result, check: str) -> str:
    return next(text for text in result.output.splitlines() if text[2:].startswith(check))


@contextmanager
def machine(tmp_path: Path, fake: FakeCodex) -> Iterator[Machine]:
    auth = tmp_path / "auth"
    auth.chmod(0o700)
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with serve(tmp_path, upstream, f"api-keys: [{KEY}]\n") as server:
        yield Machine(server, upstream, tmp_path / "home")


@pytest.fixture
def healthy(tmp_path: Path, fake: FakeCodex) -> Iterator[Machine]:
    """A server with one account and api-keys, and Claude Code and Codex CLI set up by ``setup``."""
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with machine(tmp_path, fake) as running:
        for client in ("claude", "codex"):
            done = running.run("setup", client, "--write", "--yes", "--config", str(running.server.config),
                               "--url", running.server.url)
            assert done.exit_code == 0, done.output
        yield running


def test_a_healthy_setup_is_all_green_and_exits_0(healthy: Machine) -> None:
    result = healthy.doctor()
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output and "All checks passed" in result.output
    assert "answers at" in line(result, "server") and line(result, "server").startswith("✓")
    assert line(result, "accounts").startswith("✓") and "1 of 1 ready (live)" in line(result, "accounts")
    for check in ("upstream", "bind", "files", "claude", "codex"):
        assert line(result, check).startswith("✓"), line(result, check)
    assert line(result, "amp").startswith("·")  # not set up: said, not failed


def test_amp_set_up_by_setup_alone_has_its_key_without_an_export(healthy: Machine) -> None:
    done = healthy.run("setup", "amp", "--write", "--yes", "--config", str(healthy.server.config),
                       "--url", healthy.server.url)
    assert done.exit_code == 0, done.output
    assert line(healthy.doctor(), "amp").startswith("✓ amp       points at this server with a valid key")
    secrets = healthy.home / ".local" / "share" / "amp" / "secrets.json"
    secrets.write_text(json.dumps({f"apiKey@{healthy.server.url}": "sk-not-one-of-the-servers"}))
    assert "its key is not one of the server's api-keys" in line(healthy.doctor(), "amp")


def test_no_server_says_how_to_start_one(healthy: Machine) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = healthy.doctor(url=nowhere)
    assert result.exit_code == 1
    assert line(result, "server") == (f"✗ server    nothing answers at {nowhere} → start it: `cliproxy serve` "
                                      "(or `cliproxy service install` to keep it running)")


def test_an_expired_login_names_the_account_and_the_command(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    write_account(tmp_path / "auth", "b", "tok-b", "acc-2", expired="2020-01-01T00:00:00Z", refresh_token="")
    with machine(tmp_path, fake) as running:
        result = running.doctor()
    assert result.exit_code == 1
    expired = next(text for text in result.output.splitlines() if "needs you" in text)
    assert expired.startswith("✗ accounts") and "account #" in expired and "cliproxy login" in expired
    assert "@example.com" not in result.output  # accounts are never named by e-mail


def test_a_wrong_key_in_claude_codes_settings_is_caught(healthy: Machine) -> None:
    settings = healthy.home / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    data["env"]["ANTHROPIC_AUTH_TOKEN"] = "sk-not-the-key"
    settings.write_text(json.dumps(data))
    result = healthy.doctor()
    assert result.exit_code == 1
    assert line(result, "claude").startswith("✗ claude    its key is not one of the server's api-keys")
    assert "cliproxy setup claude --write" in line(result, "claude")


def test_an_unreachable_upstream_is_named_with_the_fix(healthy: Machine) -> None:
    port = free_port()
    result = healthy.doctor("--upstream-url", f"https://127.0.0.1:{port}/backend-api/codex")
    assert result.exit_code == 1
    assert line(result, "upstream").startswith(f"✗ upstream  cannot connect to 127.0.0.1:{port}")
    assert "proxy-url" in line(result, "upstream")


def test_loose_file_modes_are_caught(healthy: Machine) -> None:
    next(healthy.server.auth_dir.glob("*.json")).chmod(0o644)
    result = healthy.doctor()
    assert result.exit_code == 1
    assert line(result, "files").startswith("✗ files") and "chmod 600" in line(result, "files")


# ---- the TLS handshake, on loopback -----------------------------------------------------------------

@pytest.fixture
def tls_port() -> Iterator[tuple[int, trustme.CA]]:
    """A loopback TLS server for 'localhost' that completes handshakes and reads nothing."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1], ca
    listener.close()


def test_the_upstream_check_completes_a_tls_handshake_and_sends_nothing(tls_port: tuple[int, trustme.CA]) -> None:
    port, ca = tls_port
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    finding = check_upstream(f"https://localhost:{port}/backend-api/codex", "", 5.0, trusted)
    assert finding.status == "ok" and "TLS" in finding.detail and "no request sent" in finding.detail


def test_an_untrusted_certificate_is_a_failure_that_names_the_ca_setting(tls_port: tuple[int, trustme.CA]) -> None:
    port, _ = tls_port
    finding = check_upstream(f"https://localhost:{port}/backend-api/codex", "", 5.0)
    assert finding.status == "fail" and "TLS handshake with localhost failed" in finding.detail
    assert "upstream.ca-file" in finding.detail
