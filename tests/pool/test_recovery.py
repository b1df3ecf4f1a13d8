"""How a resting account comes back without a restart (its first success, a quota read with headroom,
a reset by hand), and what a restart keeps of the rests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliproxy.pool.core import Pool
from cliproxy.pool.shortage import Exhausted
from cliproxy.pool.store import FilePoolStore
from cliproxy.upstream.classify import classify_http_error
from tests.fakes.codex_backend import usage_body
from tests.pool.helpers import MODEL, Clock, cred

NOW = 1_790_000_000.0
A, B = cred("a"), cred("b")


def spent(seconds: int) -> bytes:
    return json.dumps({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                                 "resets_in_seconds": seconds}}).encode()


def resting(pool: Pool, clock: Clock) -> bool:
    return bool(pool.blocked_until(A, MODEL, clock.now))


def test_a_rested_account_returns_on_its_first_success() -> None:
    # given a rests for an hour after a long rate limit
    clock = Clock(NOW)
    pool = Pool([A, B], clock=clock)
    pool.record(A, MODEL, classify_http_error(429, b'{"error": {"message": "slow down"}}', {"retry-after": "3600"}))
    assert resting(pool, clock)
    # when an attempt begun before the rest succeeds, the rest stands
    pool.record(A, MODEL, None, started=NOW - 1)
    assert resting(pool, clock)
    # when an attempt begun after the rest did succeeds, a is back at once
    clock.advance(10)
    pool.record(A, MODEL, None, started=clock.now - 1)
    assert not resting(pool, clock) and pool.pick((A,), model=MODEL) == A


def test_a_quota_read_with_headroom_ends_a_quota_rest_before_its_reset() -> None:
    # given a spent its quota until a reset a day away
    clock = Clock(NOW)
    pool = Pool([A, B], clock=clock)
    pool.record(A, MODEL, classify_http_error(429, spent(86400), {}, NOW))
    # when the poll reads a full window, a still rests; when it reads 10 % used, a serves again
    assert pool.observe_usage(A, usage_body(short=100, reset_at=int(NOW)))
    assert resting(pool, clock)
    assert pool.observe_usage(A, usage_body(short=10, reset_at=int(NOW)))
    assert not resting(pool, clock) and pool.pick((A,), model=MODEL) == A


def test_a_reset_by_hand_ends_any_rest() -> None:
    clock = Clock(NOW)
    pool = Pool([A, B], clock=clock)
    pool.record(A, MODEL, classify_http_error(403, b'{"detail": "Forbidden"}', {}, NOW))
    assert resting(pool, clock) and not pool.reset(B.id)  # b was not resting
    assert pool.reset(A.id) and pool.pick((A,), model=MODEL) == A


def test_a_restart_drops_rests_that_ended_and_keeps_those_still_running(tmp_path: Path) -> None:
    # given a state file: a's rest ended a minute ago, b's long rate limit runs for ten more minutes
    store = FilePoolStore(tmp_path / ".state" / "pool.json")
    clock = Clock(NOW)
    before = Pool([A, B], clock=clock)
    before.record(A, MODEL, classify_http_error(429, spent(60), {}, NOW))
    before.record(B, MODEL, classify_http_error(429, b'{"error": {"message": "slow down"}}',
                                                {"retry-after": "720"}, NOW))
    store.save(before.export_state())
    # when the proxy starts again two minutes later
    clock.advance(120)
    after = Pool([A, B], clock=clock)
    after.attach(store)
    # then a serves, b still rests, and the saved file no longer holds a's rest
    assert {after.pick((A, B), model=MODEL).id for _ in range(3)} == {A.id}
    assert after.export_state()["accounts"][A.id]["cooling_until"] == 0
    # and b's rest is still the account's own (a 429 rate limit, not the upstream's 503)
    with pytest.raises(Exhausted) as raised:
        after.pick((B,), model=MODEL)
    told = raised.value.error("openai-response")
    assert (told.status, told.code, told.headers()) == (429, "rate_limit_exceeded", {"Retry-After": "600"})


def test_a_state_file_written_by_hand_with_a_past_rest_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "pool.json"
    path.write_text(json.dumps({"version": 1, "saved_at": NOW - 600, "accounts": {
        A.id: {"cooling_until": NOW - 5, "reason": "usage limit reached", "outcome": "quota_exhausted",
               "strikes": 4, "model_blocks": {}, "quota": {}, "requests": 7, "errors": 4}}}))
    pool = Pool([A], clock=Clock(NOW))
    pool.attach(FilePoolStore(path))
    assert pool.pick((A,), model=MODEL) == A and pool.state(A.id).strikes == 0
    assert pool.state(A.id).requests == 7  # the counters are kept
