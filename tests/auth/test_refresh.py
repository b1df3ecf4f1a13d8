"""Refresh: due times, the Refresher's guards and failure handling, the scheduler, two processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cliproxy.auth.credentials import credential_from_record, load_account_files
from cliproxy.auth.record import format_time, parse_time
from cliproxy.auth.refresh import MAX_LEAD, Refresher, RefreshFailed, credential_due, due_time
from cliproxy.auth.schedule import RefreshScheduler
from cliproxy.auth.store import FileStore, atomic_write, encode_record
from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.errors import Outcome
from tests.auth.conftest import seed_account
from tests.fakes.issuer import FakeIssuer, Scripted, unsigned_jwt

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Events:
    def __init__(self) -> None:
        self.refreshed: list[Credential] = []
        self.failed: list[tuple[Credential, str]] = []

    def on_refreshed(self, credential: Credential) -> None:
        self.refreshed.append(credential)

    def on_failed(self, credential: Credential, message: str) -> None:
        self.failed.append((credential, message))


def load(config: Config, store: FileStore, name: str) -> Credential:
    record = store.read(name)
    assert record is not None
    return credential_from_record(record, name, config.codex_base_url, store.path(name))


def refresher(config: Config, store: FileStore, events: Events | None = None, **options: Any) -> Refresher:
    events = events or Events()
    options.setdefault("sleep", _no_sleep)
    return Refresher(config, None, events.on_refreshed, events.on_failed, store=store, **options)


async def _no_sleep(seconds: float) -> None:
    return None


# ---- due times --------------------------------------------------------------------------------

def test_due_time_rules() -> None:
    now = 1_000_000_000.0
    # a 10-day token: lead is the full 5 days
    assert due_time(now + 10 * DAY, now, None, now) == now + 5 * DAY
    # 9 days left of a token issued a day ago → due at expired − 5 d
    assert due_time(now + 9 * DAY, now - DAY, None, now) == now + 4 * DAY
    # our cap: a 2-hour token is refreshed after 1 hour, not 5 days early (no storm)
    assert due_time(now + 7200, now, None, now) == now + 3600
    # no expiry → last refresh + 5 d; neither → now
    assert due_time(None, now - 6 * DAY, None, now) == now - DAY
    assert due_time(None, None, None, now) == now
    # a per-file interval wins when it comes first
    assert due_time(now + 9 * DAY, now - 7200, 3600, now) == now - 3600
    assert MAX_LEAD == 5 * DAY


# ---- the Refresher ----------------------------------------------------------------------------

async def test_scheduled_refresh_rewrites_the_file(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    # expired = now + 4 d is due at once (4 d < 5 d lead)
    clock = Clock()
    name, old = seed_account(issuer, store, now=clock.now - 6 * DAY, priority=7, headers={"X": "1"})
    old["expired"] = format_time(clock.now + 4 * DAY)
    store.write(name, old)
    credential = load(config, store, name)
    assert credential_due(credential, clock.now) <= clock.now
    events = Events()
    scheduler = RefreshScheduler(refresher(config, store, events, clock=clock), clock=clock)
    scheduler.update([credential])
    assert await scheduler.run_due() == 1

    sent = issuer.refresh_calls
    assert len(sent) == 1 and sent[0].body["refresh_token"] == old["refresh_token"]
    assert sent[0].body["scope"] == "openid profile email"
    record = store.read(name)
    assert record is not None
    assert record["refresh_token"] != old["refresh_token"] and record["access_token"] != old["access_token"]
    assert parse_time(record["expired"]) == pytest.approx(clock.now + 10 * DAY, abs=2)
    assert parse_time(record["last_refresh"]) == pytest.approx(clock.now, abs=2)
    assert (record["priority"], record["headers"]) == (7, {"X": "1"})
    assert events.refreshed[0].access_token == record["access_token"]
    assert scheduler.next_due(name) == pytest.approx(clock.now + 5 * DAY, abs=2)


async def test_not_yet_due_waits_for_the_lead(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    clock = Clock()
    name, _ = seed_account(issuer, store, now=clock.now - DAY, expires_in=int(10 * DAY))
    scheduler = RefreshScheduler(refresher(config, store, clock=clock), clock=clock)
    scheduler.update([load(config, store, name)])
    clock.now += 4 * DAY - 60
    assert await scheduler.run_due() == 0
    clock.now += 120
    assert await scheduler.run_due() == 1 and len(issuer.refresh_calls) == 1


async def test_missing_expiry_and_interval_make_it_due(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    clock = Clock()
    name, record = seed_account(issuer, store, now=clock.now - 6 * DAY)
    record.pop("expired")
    record["access_token"] = unsigned_jwt({"no": "exp"})
    store.write(name, record)
    assert credential_due(load(config, store, name), clock.now) < clock.now
    record.update(expired=format_time(clock.now + 9 * DAY), last_refresh=format_time(clock.now - 7200),
                  refresh_interval_seconds=3600)
    store.write(name, record)
    assert credential_due(load(config, store, name), clock.now) < clock.now


async def test_partial_refresh_response_keeps_the_rest(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    name, old = seed_account(issuer, store)
    issuer.token_replies.append(Scripted(200, {"access_token": unsigned_jwt({"exp": 2_000_000_000}),
                                               "expires_in": 3600}))
    fresh = await refresher(config, store).refresh(load(config, store, name), force=True)
    record = store.read(name)
    assert record is not None
    assert record["refresh_token"] == old["refresh_token"] == fresh.refresh_token
    assert record["id_token"] == old["id_token"] and record["email"] == "u@example.com"


async def test_missing_expires_in_uses_exp_and_causes_no_storm(config: Config, issuer: FakeIssuer,
                                                               store: FileStore) -> None:
    # expiry from the access token's exp; 5 minutes of fake time → 1 refresh
    clock = Clock()
    issuer.expires_in = None
    name, _ = seed_account(issuer, store, now=clock.now - 9 * DAY)
    record = store.read(name)
    assert record is not None
    record["expired"] = format_time(clock.now + 60)
    store.write(name, record)
    scheduler = RefreshScheduler(refresher(config, store, clock=clock), clock=clock)
    scheduler.update([load(config, store, name)])
    for _ in range(30):
        await scheduler.run_due()
        clock.now += 10
    assert len(issuer.refresh_calls) == 1
    refreshed = store.read(name)
    assert refreshed is not None
    assert parse_time(refreshed["expired"]) == pytest.approx(time.time() + 864000, abs=5)


async def test_concurrent_refreshes_make_one_request(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    # scheduler + on-401 + manual, 10 at once, the issuer holding its answer 500 ms
    name, old = seed_account(issuer, store, now=time.time() - 6 * DAY)
    credential = load(config, store, name)
    issuer.refresh_delay = 0.5
    events = Events()
    shared = refresher(config, store, events)
    calls = [shared.refresh(credential, force=i % 3 != 0) for i in range(9)]
    calls.append(shared.on_unauthorized(credential))
    results = await asyncio.gather(*calls)
    assert len(issuer.refresh_calls) == 1
    record = store.read(name)
    assert record is not None
    assert {r.refresh_token for r in results} == {record["refresh_token"]} != {old["refresh_token"]}


async def test_a_token_refreshed_by_another_process_is_adopted(config: Config, issuer: FakeIssuer,
                                                                store: FileStore) -> None:
    # the file has a newer refresh token than memory → adopt, no network call
    name, record = seed_account(issuer, store)
    stale = load(config, store, name)
    newer = issuer.tokens()
    record.update(refresh_token=newer["refresh_token"], access_token=newer["access_token"])
    store.write(name, record)
    events = Events()
    fresh = await refresher(config, store, events).on_unauthorized(stale)
    assert issuer.refresh_calls == []
    assert fresh.refresh_token == newer["refresh_token"] and fresh.access_token == newer["access_token"]
    assert events.refreshed == [fresh]


async def test_transient_failures_retry_three_times(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    name, _ = seed_account(issuer, store)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    issuer.token_replies.extend([Scripted(503, ""), Scripted(503, "")])
    fresh = await refresher(config, store, sleep=sleep).refresh(load(config, store, name), force=True)
    assert waits == [1.0, 2.0] and len(issuer.refresh_calls) == 3 and fresh.access_token


async def test_transient_failure_keeps_the_account_and_backs_off(config: Config, issuer: FakeIssuer,
                                                                 store: FileStore) -> None:
    # 503 always → 3 attempts, error, account active, retried after 5 min, then 10
    clock = Clock()
    name, _ = seed_account(issuer, store, now=clock.now - 6 * DAY)
    issuer.token_replies.extend([Scripted(503, "")] * 6)
    events = Events()
    scheduler = RefreshScheduler(refresher(config, store, events, clock=clock), clock=clock)
    scheduler.update([load(config, store, name)])
    await scheduler.run_due()
    assert len(issuer.refresh_calls) == 3
    assert "token refresh failed after 3 attempts" in events.failed[0][1]
    assert not events.failed[0][0].auth_error and load(config, store, name).usable
    assert scheduler.next_due(name) == pytest.approx(clock.now + 300)
    clock.now += 301
    await scheduler.run_due()
    assert scheduler.next_due(name) == pytest.approx(clock.now + 600)


async def test_transient_error_is_a_retryable_503(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    name, _ = seed_account(issuer, store)
    issuer.token_replies.extend([Scripted(502, "")] * 3)
    with pytest.raises(RefreshFailed) as caught:
        await refresher(config, store).on_unauthorized(load(config, store, name))
    assert (caught.value.status, caught.value.permanent, caught.value.retryable) == (503, False, True)
    # the account's failure: it rests a minute (or until a new token), and another account serves
    assert caught.value.outcome is Outcome.UNAUTHORIZED and caught.value.retry_after == 60


async def spend(issuer: FakeIssuer, refresh_token: str) -> None:
    """Someone else (Codex CLI sharing the token) refreshes first."""
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{issuer.url}/oauth/token", data={
            "client_id": "app_EMoamEEZ73f0CkXaXp7hrann", "grant_type": "refresh_token",
            "refresh_token": refresh_token})
    assert response.status_code == 200


async def test_reused_token_marks_the_account_permanently(config: Config, issuer: FakeIssuer,
                                                          store: FileStore, accounts_dir: Path) -> None:
    # also: persisted across a restart, and no more scheduled refreshes for an hour
    clock = Clock()
    name, record = seed_account(issuer, store, now=clock.now - 6 * DAY)
    await spend(issuer, record["refresh_token"])
    before = len(issuer.refresh_calls)
    events = Events()
    scheduler = RefreshScheduler(refresher(config, store, events, clock=clock), clock=clock)
    scheduler.update([load(config, store, name)])
    await scheduler.run_due()
    assert len(issuer.refresh_calls) == before + 1  # exactly one request, no retries

    failed, message = events.failed[0]
    assert failed.auth_error == "refresh_token_reused" and not failed.usable
    assert "cliproxy login" in message and "already used" in message
    assert "@example.com" not in message  # a client may read it: the account is never named by its e-mail
    assert record["refresh_token"] not in message
    for _ in range(6):
        clock.now += 600
        await scheduler.run_due()
    assert len(issuer.refresh_calls) == before + 1 and scheduler.next_due(name) is None

    # a restart: the marker is in the file, the account stays out, a new process fails fast
    restarted = load_account_files(accounts_dir, config.codex_base_url)
    assert [c.auth_error for c in restarted] == ["refresh_token_reused"] and not restarted[0].usable
    with pytest.raises(RefreshFailed) as caught:
        await refresher(config, store).on_unauthorized(restarted[0])
    assert caught.value.permanent and caught.value.status == 401
    assert caught.value.outcome is Outcome.UNAUTHORIZED and "cliproxy login" in caught.value.message
    assert len(issuer.refresh_calls) == before + 1
    assert (accounts_dir / name).exists()


@pytest.mark.parametrize(("reply", "phrase"), [
    (Scripted(401, {"error": {"code": "refresh_token_expired"}}), "has expired"),
    (Scripted(401, {"error": {"code": "refresh_token_invalidated"}}), "was revoked"),
    (Scripted(401, ""), "could not be refreshed"),
    (Scripted(400, {"error": "invalid_grant"}), "invalid_grant"),
])
async def test_permanent_failure_variants(config: Config, issuer: FakeIssuer, store: FileStore,
                                          reply: Scripted, phrase: str) -> None:
    name, _ = seed_account(issuer, store)
    issuer.token_replies.append(reply)
    with pytest.raises(RefreshFailed) as caught:
        await refresher(config, store).refresh(load(config, store, name), force=True)
    assert caught.value.permanent and phrase in caught.value.message
    assert len(issuer.refresh_calls) == 1
    assert load(config, store, name).auth_error


async def test_reused_answer_rereads_the_file_before_marking(config: Config, issuer: FakeIssuer,
                                                             store: FileStore) -> None:
    # the other writer (not using our lock) won while our request was in flight
    name, record = seed_account(issuer, store)
    issuer.token_replies.append(Scripted(401, {"error": {"code": "refresh_token_reused"}}, delay=0.3))
    newer = issuer.tokens()
    writer = threading.Timer(0.1, lambda: atomic_write(
        store.path(name), encode_record({**record, "refresh_token": newer["refresh_token"]})))
    writer.start()
    fresh = await refresher(config, store).refresh(load(config, store, name), force=True)
    writer.join()
    assert fresh.refresh_token == newer["refresh_token"] and not fresh.auth_error
    assert "auth_error" not in (store.read(name) or {})


async def test_relogin_or_new_file_recovers_the_account(config: Config, issuer: FakeIssuer,
                                                        store: FileStore) -> None:
    clock = Clock()
    name, record = seed_account(issuer, store, now=clock.now - 6 * DAY)
    issuer.token_replies.append(Scripted(401, {"error": {"code": "refresh_token_reused"}}))
    scheduler = RefreshScheduler(refresher(config, store, clock=clock), clock=clock)
    scheduler.update([load(config, store, name)])
    await scheduler.run_due()
    assert load(config, store, name).auth_error
    fresh = issuer.tokens()
    replaced = {**record, **{k: fresh[k] for k in ("access_token", "refresh_token", "id_token")},
                "last_refresh": format_time(clock.now - 6 * DAY)}
    replaced.pop("auth_error", None)
    store.write(name, replaced)  # what a re-login (or copying in a good file) leaves behind
    recovered = load(config, store, name)
    assert recovered.usable
    scheduler.update([recovered])
    assert await scheduler.run_due() == 1 and not load(config, store, name).auth_error


async def test_refresh_timeout_is_transient_and_frees_the_slot(config: Config, issuer: FakeIssuer,
                                                               store: FileStore) -> None:
    # the timeout is injected: 0.3 s instead of 30
    name, _ = seed_account(issuer, store)
    issuer.refresh_delay = 1.0
    shared = refresher(config, store, timeout=0.3)
    credential = load(config, store, name)
    with pytest.raises(RefreshFailed) as caught:
        await shared.refresh(credential, force=True)
    assert not caught.value.permanent and "timed out" in caught.value.message
    issuer.refresh_delay = 0
    issuer.token_replies.append(Scripted(200, issuer.tokens()))
    assert (await shared.refresh(credential, force=True)).access_token
    assert len(issuer.refresh_calls) == 2


async def test_disabled_accounts_are_still_refreshed(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    # we refresh disabled accounts (so enabling one later just works)
    clock = Clock()
    name, _ = seed_account(issuer, store, now=clock.now - 6 * DAY, disabled=True)
    credential = load(config, store, name)
    assert not credential.usable
    scheduler = RefreshScheduler(refresher(config, store, clock=clock), clock=clock)
    scheduler.update([credential])
    assert await scheduler.run_due() == 1 and len(issuer.refresh_calls) == 1


async def test_not_forced_and_not_due_makes_no_call(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    name, _ = seed_account(issuer, store)
    credential = load(config, store, name)
    assert await refresher(config, store).refresh(credential) == credential
    assert issuer.refresh_calls == []


async def test_the_background_loop_refreshes_and_stops(config: Config, issuer: FakeIssuer, store: FileStore) -> None:
    name, _ = seed_account(issuer, store, now=time.time() - 6 * DAY)
    shared = refresher(config, store)
    scheduler = RefreshScheduler(shared)
    scheduler.update([])
    scheduler.start()
    await asyncio.sleep(0.05)
    scheduler.update([load(config, store, name)])  # a reload brings a due account
    for _ in range(100):
        if issuer.refresh_calls:
            break
        await asyncio.sleep(0.02)
    await scheduler.stop()
    await shared.aclose()
    assert len(issuer.refresh_calls) == 1


async def test_stop_ends_the_loop_even_when_a_wake_up_meets_the_cancellation(config: Config,
                                                                          store: FileStore) -> None:
    # Python 3.11's wait_for returns the result instead of raising when its cancellation arrives as
    # the awaited wake-up completes: the cancellation is lost, and a loop that only awaits forever hangs
    shared = refresher(config, store)
    scheduler = RefreshScheduler(shared)
    scheduler.start()
    await asyncio.sleep(0.05)
    scheduler.update([])  # wakes the loop ...
    await asyncio.wait_for(scheduler.stop(), 5)  # ... in the same step as the cancellation
    await shared.aclose()


# ---- two processes ----------------------------------------------------------------------------

RACER = textwrap.dedent("""
    import asyncio, os, sys, time
    from pathlib import Path
    from cliproxy.auth.refresh import Refresher
    from cliproxy.auth.store import FileStore
    from cliproxy.config.load import parse_config
    from cliproxy.auth.credentials import credential_from_record

    config = parse_config({"auth-dir": sys.argv[1], "oauth-issuer": sys.argv[2]})
    store = FileStore(config.auth_path)
    name = sys.argv[3]
    credential = credential_from_record(store.read(name), name, config.codex_base_url, store.path(name))
    print("ready", flush=True)
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.005)

    async def main():
        refresher = Refresher(config, None)
        try:
            fresh = await refresher.refresh(credential, force=True)
        finally:
            await refresher.aclose()
        print(fresh.refresh_token, flush=True)

    asyncio.run(main())
""")


def test_two_processes_refreshing_at_once_spend_the_token_once(config: Config, issuer: FakeIssuer,
                                                               store: FileStore, tmp_path: Path) -> None:
    name, old = seed_account(issuer, store)
    issuer.refresh_delay = 0.5
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(config.auth_path), issuer.url, name, str(go)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
              for _ in range(2)]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [racer.communicate(timeout=30) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), outputs
    record = store.read(name)
    assert record is not None
    assert len(issuer.refresh_calls) == 1
    assert [out.strip() for out, _err in outputs] == [record["refresh_token"]] * 2
    assert record["refresh_token"] != old["refresh_token"]
    for out, err in outputs:
        assert not any(secret in out + err for secret in issuer.secrets if secret != record["refresh_token"])
