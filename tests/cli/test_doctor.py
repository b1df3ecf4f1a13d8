"""``cliproxy doctor`` against a real ``cliproxy serve`` with the fake Codex backend: all green on a
healthy setup, and for each thing a user meets — no server, an expired login, a wrong key in Claude
Code's settings, an upstream this machine cannot reach — the right line and a non-zero exit."""

from __future__ import annotations

import asyncio
import contextlib
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
from tests.fakes.socks5 import Socks5Proxy
from tests.helpers import write_account
from tests.serve_process import Server, serve

KEY = "sk-local-0123456789abcdef"
CLIENT_VARIABLES = ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_DEFAULT_OPUS_MODEL",
                    "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL", "AMP_URL", "AMP_API_KEY",
                    "OPENAI_BASE_URL", "OPENAI_API_KEY")


@dataclass
class Machine:
    """A user's machine: the running server, the upstream it uses, and a HOME."""

    server: Server
    upstream: str
    home: Path

    def run(self, *args: str, **shell: str) -> Result:
        """The command in this HOME, with a shell that has none of the clients' variables unless given."""
        env = {"HOME": str(self.home), "CLIPROXY_AUTH_DIR": str(self.server.auth_dir), "CLIPROXY_CONFIG": "",
               "CLIPROXY_CODEX_BASE_URL": self.upstream, "CODEX_HOME": "", "CLAUDE_CONFIG_DIR": "",
               "XDG_CONFIG_HOME": "", "XDG_DATA_HOME": "", "HTTPS_PROXY": "", "https_proxy": "", "ALL_PROXY": "",
               "all_proxy": "", **dict.fromkeys(CLIENT_VARIABLES, ""), **shell}
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    def doctor(self, *args: str, url: str = "", **shell: str) -> Result:
        return self.run("doctor", "--config", str(self.server.config), "--url", url or self.server.url,
                        "--timeout", "5", *args, **shell)

    def setup(self, client: str, *args: str) -> None:
        done = self.run("setup", client, "--write", "--yes", "--config", str(self.server.config), "--url",
                        self.server.url, *args)
        assert done.exit_code == 0, done.output


def line(result: Result, check: str) -> str:
    return next(text for text in result.output.splitlines() if text[2:].startswith(check))


def lines(result: Result, check: str) -> list[str]:
    return [text for text in result.output.splitlines() if text[2:].startswith(check)]


@contextmanager
def machine(tmp_path: Path, fake: FakeCodex, keys: str = f"api-keys: [{KEY}]\n") -> Iterator[Machine]:
    auth = tmp_path / "auth"
    auth.chmod(0o700)
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with serve(tmp_path, upstream, keys) as server:
        yield Machine(server, upstream, tmp_path / "home")


@pytest.fixture
def healthy(tmp_path: Path, fake: FakeCodex) -> Iterator[Machine]:
    """A server with one account and api-keys, and Claude Code and Codex CLI set up by ``setup``."""
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with machine(tmp_path, fake) as running:
        for client in ("claude", "codex"):
            running.setup(client)
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


# ---- this shell's variables, merged as each client merges them -------------------------------------

def test_claude_set_up_only_in_the_shell_is_checked_from_the_shell(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with machine(tmp_path, fake) as running:
        shell = {"ANTHROPIC_BASE_URL": running.server.url, "ANTHROPIC_AUTH_TOKEN": "sk-wrong-0123456789",
                 "ANTHROPIC_DEFAULT_OPUS_MODEL": "gpt-5.5", "ANTHROPIC_DEFAULT_SONNET_MODEL": "gpt-5.4",
                 "ANTHROPIC_DEFAULT_HAIKU_MODEL": "gpt-5.4-mini"}
        result = running.doctor(**shell)
    assert result.exit_code == 1
    assert line(result, "claude").startswith("✗ claude    its key is not one of the server's api-keys")
    assert "sk-wrong-0123456789" not in result.output


def test_claudes_settings_file_wins_over_the_shell_and_the_mismatch_is_named(healthy: Machine) -> None:
    result = healthy.doctor(ANTHROPIC_BASE_URL="http://127.0.0.1:9", ANTHROPIC_AUTH_TOKEN="sk-other-0123456789")
    assert result.exit_code == 0, result.output  # Claude Code uses its settings file: still served
    verdict, clash = lines(result, "claude")
    assert verdict.startswith("✓ claude    points at this server")
    assert clash.startswith("! claude    this shell's ANTHROPIC_BASE_URL=http://127.0.0.1:9, ANTHROPIC_AUTH_TOKEN "
                            "differs from the settings;") and "settings.json wins" in clash
    assert "sk-other-0123456789" not in result.output


def test_amp_url_in_the_shell_wins_over_amp_settings(healthy: Machine) -> None:
    healthy.setup("amp")
    assert line(healthy.doctor(), "amp").startswith("✓ amp       points at this server with a valid key")
    elsewhere = f"http://127.0.0.1:{free_port()}"
    verdict, clash = lines(healthy.doctor(AMP_URL=elsewhere), "amp")
    assert verdict.startswith(f"! amp       points at {elsewhere}, not at this server")
    assert clash.startswith(f"! amp       this shell's AMP_URL={elsewhere} differs") and "AMP_URL wins" in clash


def test_amp_without_a_key_anywhere_would_start_its_login(healthy: Machine) -> None:
    result = healthy.doctor(AMP_URL=healthy.server.url)
    assert result.exit_code == 1
    assert line(result, "amp").startswith(f"✗ amp       no key for {healthy.server.url}")


def test_the_openai_sdks_are_checked_from_the_shell(healthy: Machine) -> None:
    assert line(healthy.doctor(), "openai").startswith("· openai    OPENAI_BASE_URL is not set")
    good = healthy.doctor(OPENAI_BASE_URL=healthy.server.url + "/v1", OPENAI_API_KEY=KEY)
    assert line(good, "openai").startswith("✓ openai    points at this server with a valid key")
    bad = healthy.doctor(OPENAI_BASE_URL=healthy.server.url + "/v1", OPENAI_API_KEY="sk-nope-0123456789")
    assert bad.exit_code == 1 and line(bad, "openai").startswith("✗ openai    its key is not one")


# ---- client keys ---------------------------------------------------------------------------------------

CLIENT_KEYS = """client-keys:
  - {name: alice, key: sk-alice-0123456789abcdef}
  - {name: bob, key: sk-bob-0123456789abcdef, disabled: true}
  - {name: carol, key: sk-carol-0123456789abcdef, expires: 2020-01-01}
  - {name: dave, key: sk-dave-0123456789abcdef, models: ["gpt-5.4*"]}
"""


@pytest.fixture
def keyed(tmp_path: Path, fake: FakeCodex) -> Iterator[Machine]:
    """A server whose only keys are client keys."""
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with machine(tmp_path, fake, CLIENT_KEYS) as running:
        yield running


def test_a_holders_client_key_in_claudes_settings_is_valid(keyed: Machine) -> None:
    keyed.setup("claude", "--key", "sk-alice-0123456789abcdef")
    result = keyed.doctor()
    assert line(result, "claude").startswith("✓ claude    points at this server with a valid key"), result.output


@pytest.mark.parametrize(("holder", "said"), [
    ("bob", "its client key 'bob' is disabled (it would get a 401)"),
    ("carol", "its client key 'carol' expired at 2020-01-01 00:00:00 UTC (it would get a 401)"),
    ("dave", "its client key 'dave' may not use gpt-5.5 (it would get a 403)"),
])
def test_a_disabled_expired_or_limited_client_key_is_flagged(keyed: Machine, holder: str, said: str) -> None:
    keyed.setup("claude", "--key", "sk-alice-0123456789abcdef")
    settings = keyed.home / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    data["env"]["ANTHROPIC_AUTH_TOKEN"] = f"sk-{holder}-0123456789abcdef"  # the holder's key, by hand
    settings.write_text(json.dumps(data))
    result = keyed.doctor()
    assert result.exit_code == 1
    assert line(result, "claude") == f"✗ claude    {said} → run `cliproxy setup claude --write`"
    assert f"sk-{holder}-0123456789abcdef" not in result.output


def test_setup_with_a_key_limited_to_some_models_maps_claude_to_those(keyed: Machine) -> None:
    keyed.setup("claude", "--key", "sk-dave-0123456789abcdef")
    env = json.loads((keyed.home / ".claude" / "settings.json").read_text())["env"]
    assert env["ANTHROPIC_DEFAULT_OPUS_MODEL"].startswith("gpt-5.4")  # the server lists dave only those
    assert line(keyed.doctor(), "claude").startswith("✓ claude")


def test_setup_without_key_gives_claude_the_first_live_client_key(keyed: Machine) -> None:
    keyed.setup("claude")
    settings = json.loads((keyed.home / ".claude" / "settings.json").read_text())
    assert settings["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-alice-0123456789abcdef"


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


# ---- a SOCKS5 proxy: a real handshake, not just a TCP connect -------------------------------------------

async def test_through_a_socks5_proxy_the_tunnel_and_the_tls_handshake_are_checked(
        tls_port: tuple[int, trustme.CA]) -> None:
    port, ca = tls_port
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    async with Socks5Proxy() as proxy:
        finding = await asyncio.to_thread(check_upstream, f"https://localhost:{port}/backend-api/codex", proxy.url,
                                          5.0, trusted)
    assert finding.status == "ok", finding.detail
    assert f"localhost:{port} reachable through the SOCKS5 proxy 127.0.0.1:" in finding.detail
    assert "TLS" in finding.detail and proxy.targets == [("localhost", port)]


async def test_a_socks5_proxy_that_cannot_reach_the_upstream_says_so() -> None:
    closed = free_port()
    async with Socks5Proxy() as proxy:
        finding = await asyncio.to_thread(check_upstream, f"https://127.0.0.1:{closed}/backend-api/codex",
                                          proxy.url, 5.0)
    assert finding.status == "fail"
    assert finding.detail.startswith(f"the SOCKS5 proxy could not open a tunnel to 127.0.0.1:{closed} "
                                     "(connection refused)")


def test_an_http_server_given_as_a_socks5_proxy_is_caught(fake: FakeCodex) -> None:
    http_port = fake.url.rsplit(":", 1)[1]  # type: ignore[attr-defined]
    finding = check_upstream("https://chatgpt.com/backend-api/codex", f"socks5://127.0.0.1:{http_port}", 5.0)
    assert finding.status == "fail" and "not as a SOCKS5 proxy" in finding.detail


@pytest.fixture
def socks_wanting_a_password() -> Iterator[int]:
    """A SOCKS5 proxy that accepts none of the methods offered without credentials."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(16)
                conn.sendall(b"\x05\xff")

    threading.Thread(target=answer, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_a_socks5_proxy_wanting_a_password_is_named(socks_wanting_a_password: int) -> None:
    finding = check_upstream("https://chatgpt.com/backend-api/codex", f"socks5://127.0.0.1:{socks_wanting_a_password}",
                             5.0)
    assert finding.status == "fail" and "accepts none of our ways to log in" in finding.detail


def test_a_codex_setup_without_the_catalogue_url_is_a_warning_with_the_fix(healthy: Machine) -> None:
    """A file written by an older cliproxy: Codex would use its own model list, where a model it
    does not know gets no apply_patch tool. Worth a warning, not a failure."""
    path = healthy.home / ".codex" / "config.toml"
    path.write_text("".join(text for text in path.read_text().splitlines(keepends=True)
                            if not text.startswith("model_catalog_url")))
    result = healthy.doctor()
    assert result.exit_code == 0, result.output
    assert line(result, "codex").startswith("! codex     has no model_catalog_url naming this server")
    assert "apply_patch" in line(result, "codex") and "cliproxy setup codex --write" in line(result, "codex")
