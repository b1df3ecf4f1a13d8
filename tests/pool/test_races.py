"""Attempts in flight together when an account fails: they report one episode, not many, and the
successes of those that began before the failure do not end the rest it began."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from cliproxy.auth.credentials import credential_from_record
from cliproxy.auth.refresh import Refresher
from cliproxy.auth.store import FileStore
from cliproxy.config.load import parse_config
from cliproxy.credential import Credential
from cliproxy.pool.core import Pool
from cliproxy.runner import CallResult, Runner
from cliproxy.upstream.classify import classify_http_error
from tests.auth.conftest import seed_account
from tests.fakes.issuer import running_issuer
from tests.fakes.upstream import FakeUpstream
from tests.pool.helpers import MODEL, Clock, cred
from tests.test_runner import EXPIRED_TOKEN, answer, make_call

NOW = 1_790_000_000.0
A, B = cred("a"), cred("b")
# The account's quota is spent for a minute (the backend's words, as the classifier reads them).
SPENT = classify_http_error(429, json.dumps({"error": {"type": "usage_limit_reached", "resets_in_seconds": 60,
                                                       "message": "The usage limit has been reached"}}).encode(), {})


def test_streams_in_flight_when_an_account_hits_its_limit_neither_end_nor_extend_its_rest() -> None:
    # given twenty streams running on a, begun a tenth of a second apart
    clock = Clock(NOW)
    began = []
    pool = Pool([A, B], clock=clock)
    for _ in range(20):
        began.append(clock.now)
        clock.advance(0.1)
    # when a new attempt on a answers 429 usage_limit_reached, resetting in a minute
    pool.record(A, MODEL, SPENT, started=clock.now)
    until = pool.blocked_until(A, MODEL, clock.now)
    assert until == pytest.approx(clock.now + 60)
    # then, as the twenty end (most succeed, some meet the same limit), no new request reaches a
    for n, started in enumerate(began):
        clock.advance(1)
        pool.record(A, MODEL, SPENT if n % 4 == 0 else None, started=started)
        assert pool.pick((A, B), model=MODEL) == B
    assert pool.blocked_until(A, MODEL, clock.now) == until and pool.state(A.id).strikes == 1
    # and a serves again at its reset
    clock.now = until
    assert {pool.pick((A, B), model=MODEL).id for _ in range(2)} == {A.id, B.id}


def test_blips_in_flight_together_count_as_one_strike() -> None:
    # given three attempts on a that began together, while b can serve
    clock = Clock(NOW)
    pool = Pool([A, B], clock=clock)
    started = clock.now
    clock.advance(2)
    # when the backend cuts them all at once, three times over
    blip = classify_http_error(502, b'{"detail": "Bad Gateway"}', {})
    for _ in range(3):
        pool.record(A, MODEL, blip, started=started)
    # then that was one blip, and a stays in rotation
    assert pool.state(A.id).transient == 1 and not pool.blocked_until(A, MODEL, clock.now)


async def test_thirty_requests_waiting_on_one_hung_refresh_rest_the_account_once(tmp_path: Path) -> None:
    with running_issuer() as issuer:
        # given an account whose token the backend refuses, and an issuer too slow to renew it
        store = FileStore(tmp_path / "auth")
        config = parse_config({"auth-dir": str(store.auth_dir), "oauth-issuer": issuer.url,
                               "codex-base-url": "http://127.0.0.1:9/backend-api/codex"})
        name, record = seed_account(issuer, store)
        issuer.refresh_delay = 1.0
        refresher = Refresher(config, None, store=store, timeout=0.3)

        def account(token: str | None = None) -> Credential:
            return credential_from_record({**record, **({"access_token": token} if token else {})}, name,
                                          config.codex_base_url, store.path(name))

        other = cred("z")  # served after the first by fill-first (the lowest id first)
        pool = Pool([account(), other], "fill-first")
        upstream = FakeUpstream.playing(*[EXPIRED_TOKEN] * 30, *[answer(f"resp_{n}", ["ok"]) for n in range(30)])
        runner = Runner(upstream, pool, refresher.on_unauthorized)
        # when thirty requests arrive together: each is refused and waits on the one refresh
        try:
            calls = [runner.complete(make_call(account(), other, stream=False), CallResult()) for _ in range(30)]
            answers = await asyncio.gather(*calls)
        finally:
            await refresher.aclose()
    # then the issuer was asked once, every request was served by the other account,
    assert len(issuer.refresh_calls) == 1 and len(answers) == 30
    assert [sent.credential.id for sent in upstream.sent[30:]] == [other.id] * 30
    # and the account rests once, about a minute
    state = pool.state(name)
    assert state.strikes == 1 and state.errors == 30
    assert pool.blocked_until(account(), MODEL, time.time()) - time.time() == pytest.approx(60, abs=5)
    # until a new token appears in its file (a login, another process's refresh): it serves at once
    pool.update([account("a-new-access-token"), other])
    assert pool.pick((account(), other), model=MODEL).access_token == "a-new-access-token"
