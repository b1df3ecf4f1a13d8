"""Who may reach the management API: nobody without a secret, loopback only by default, the right key,
and an address that keeps guessing is banned."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cliproxy.config.load import parse_config
from cliproxy.server.management.guard import BAN_SECONDS, LOOPBACK_BAN_SECONDS, Denied, Guard
from tests.fakes.codex_backend import FakeCodex
from tests.serve_process import run_configured
from tests.server.management.conftest import SECRET, Managed


def test_without_a_secret_every_management_path_is_404(tmp_path: Path, fake: FakeCodex) -> None:
    with run_configured(tmp_path, fake.url) as proxy:  # type: ignore[attr-defined]
        for path in ("/config", "/api-keys", "/usage", "/nothing-here"):
            response = httpx.get(proxy.url + "/v0/management" + path, headers={"authorization": "Bearer x"})
            assert response.status_code == 404


def test_missing_and_wrong_keys_are_401_and_a_right_key_passes(managed: Managed) -> None:
    url = managed.proxy.url + "/v0/management/debug"
    missing = httpx.get(url)
    wrong = httpx.get(url, headers={"authorization": "Bearer not-it"})
    assert (missing.status_code, missing.json()) == (401, {"error": "missing management key"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid management key"})
    by_header = httpx.get(url, headers={"x-management-key": SECRET})
    raw = httpx.get(url, headers={"authorization": SECRET})
    assert by_header.status_code == raw.status_code == 200 and by_header.json() == {"debug": False}
    assert by_header.headers["x-cpa-version"]


def test_five_failures_from_loopback_ban_it_for_one_minute_only(managed: Managed) -> None:
    url = managed.proxy.url + "/v0/management/debug"
    for _ in range(5):
        assert httpx.get(url, headers={"authorization": "Bearer guess"}).status_code == 401
    banned = httpx.get(url, headers={"authorization": f"Bearer {SECRET}"})
    other_loopback = httpx.get(url.replace("127.0.0.1", "localhost"), headers={"authorization": f"Bearer {SECRET}"})
    assert banned.status_code == other_loopback.status_code == 403
    assert banned.json()["error"] in {f"IP banned due to too many failed attempts. Try again in {s}s"
                                      for s in range(55, 61)} | {"IP banned due to too many failed attempts. "
                                                                 "Try again in 1m0s"}


def test_the_secret_is_hashed_in_the_file_with_comments_kept(managed: Managed) -> None:
    text = managed.config_file.read_text()
    assert SECRET not in text and "secret-key: \"$2b$" in text
    assert "# cliproxy test config" in text and "# the management password" in text and "# the laptop" in text


async def test_remote_clients_are_refused_and_forwarded_for_is_not_trusted() -> None:
    config = parse_config({"remote-management": {"secret-key": "plain-secret"}})
    guard = Guard(environ={})
    with pytest.raises(Denied) as remote:
        await guard.check("203.0.113.7", {"authorization": "Bearer plain-secret",
                                          "x-forwarded-for": "127.0.0.1"}, config)
    assert (remote.value.status, remote.value.message) == (403, "remote management disabled")
    await guard.check("::1", {"authorization": "Bearer plain-secret"}, config)
    allowed = parse_config({"remote-management": {"secret-key": "plain-secret", "allow-remote": True}})
    await guard.check("203.0.113.7", {"authorization": "Bearer plain-secret"}, allowed)


REMOTE = parse_config({"remote-management": {"secret-key": "plain-secret", "allow-remote": True}})


async def guess(guard: Guard, address: str, key: str, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Denied):
            await guard.check(address, {"x-management-key": key}, REMOTE)


async def test_a_remote_ban_ends_after_thirty_minutes_and_a_success_resets_the_count() -> None:
    now = [1000.0]
    guard = Guard(clock=lambda: now[0], environ={})
    await guess(guard, "203.0.113.7", "nope", 4)
    await guard.check("203.0.113.7", {"x-management-key": "plain-secret"}, REMOTE)  # resets the count
    await guess(guard, "203.0.113.7", "nope", 5)
    await guess(guard, "203.0.113.7", "plain-secret")  # banned, even with the right key
    now[0] += BAN_SECONDS - 5
    await guess(guard, "203.0.113.7", "plain-secret")
    now[0] += 6
    await guard.check("203.0.113.7", {"x-management-key": "plain-secret"}, REMOTE)


async def test_a_remote_ban_never_locks_the_owner_out_of_loopback() -> None:
    guard = Guard(environ={})
    await guess(guard, "203.0.113.7", "nope", 5)
    await guess(guard, "203.0.113.7", "plain-secret")
    await guard.check("127.0.0.1", {"x-management-key": "plain-secret"}, REMOTE)
    await guard.check("::1", {"x-management-key": "plain-secret"}, REMOTE)


async def test_a_local_process_guessing_locks_loopback_for_a_minute_at_most_on_every_loopback_address() -> None:
    now = [1000.0]
    guard = Guard(clock=lambda: now[0], environ={"MANAGEMENT_PASSWORD": "env-pass"})
    await guess(guard, "127.0.0.1", "nope", 3)
    await guess(guard, "127.0.0.2", "nope", 2)  # another loopback address is the same machine
    await guess(guard, "::1", "env-pass")  # banned: five guesses a minute at most
    await guard.check("203.0.113.7", {"x-management-key": "env-pass"}, REMOTE)  # remote is not affected
    now[0] += LOOPBACK_BAN_SECONDS + 1
    await guard.check("127.0.0.1", {"x-management-key": "env-pass"}, REMOTE)
