"""The pool: strategies, the outcome table, quota blocks, affinity, the aggregated errors, state."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from cliproxy.errors import Outcome, openai_error_body
from cliproxy.pool.core import Pool
from cliproxy.pool.shortage import Exhausted
from cliproxy.state.base import opaque
from cliproxy.upstream.classify import classify_http_error
from tests.pool.helpers import MODEL, Clock, cred, failure

A, B, C = cred("a"), cred("b"), cred("c")


def pool_of(*credentials, strategy: str = "round-robin", clock: Clock | None = None, **options) -> Pool:  # type: ignore[no-untyped-def]
    return Pool(list(credentials), strategy, clock=clock or Clock(), **options)


def picks(pool: Pool, count: int, candidates=(A, B, C), **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    return [pool.pick(candidates, model=MODEL, **kwargs).email[0] for _ in range(count)]


def strike(pool: Pool, clock: Clock, account, times: int = 3, outcome: Outcome = Outcome.SERVER_ERROR,  # type: ignore[no-untyped-def]
           status: int = 500) -> None:
    """``times`` transient failures of ``account`` in a row, each a second after the last (attempts
    that fail at the same instant are one episode and count once)."""
    for _ in range(times):
        clock.advance(1)
        pool.record(account, MODEL, failure(outcome, status))


def test_round_robin_takes_turns_and_skips_a_cooling_account() -> None:
    clock = Clock()
    pool = pool_of(A, B, C, clock=clock)
    assert picks(pool, 6) == list("abcabc")
    pool.record(B, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=60))
    assert picks(pool, 4) == list("acac")
    clock.advance(60)
    assert sorted(picks(pool, 3)) == list("abc")


def test_round_robin_skips_an_account_that_failed_three_times_in_a_row() -> None:
    clock = Clock()
    pool = pool_of(A, B, C, clock=clock)
    strike(pool, clock, B, times=2)
    assert sorted(picks(pool, 3)) == list("abc")  # two blips: still in rotation
    strike(pool, clock, B, times=1)
    assert picks(pool, 4) == list("acac")
    clock.advance(5)
    assert sorted(picks(pool, 3)) == list("abc")


def test_fill_first_stays_on_the_first_until_it_cools() -> None:
    pool = pool_of(A, B, C, strategy="fill-first")
    assert picks(pool, 3) == list("aaa")
    pool.record(A, MODEL, failure(Outcome.RATE_LIMITED, 429, retry_after=3600))  # a long limit: the account's
    assert picks(pool, 2) == list("bb")


def test_weights_interleave() -> None:
    heavy = cred("a", weight=3)
    pool = pool_of(heavy, B)
    assert Counter(picks(pool, 8, candidates=(heavy, B))) == {"a": 6, "b": 2}


def test_highest_priority_group_first() -> None:
    high = cred("c", priority=5)
    pool = pool_of(A, B, high)
    assert picks(pool, 2, candidates=(A, B, high)) == list("cc")
    pool.record(high, MODEL, failure(Outcome.FORBIDDEN, 403))
    assert picks(pool, 2, candidates=(A, B, high)) == list("ab")


@pytest.mark.parametrize(("outcome", "status", "seconds"), [
    (Outcome.NO_QUOTA, 429, 3600),
    (Outcome.FORBIDDEN, 403, 1800),
    (Outcome.RATE_LIMITED, 429, 3600),
])
def test_outcome_table_durations(outcome: Outcome, status: int, seconds: float) -> None:
    clock = Clock()
    pool = pool_of(A, clock=clock)
    pool.record(A, MODEL, failure(outcome, status, retry_after=3600 if status == 429 else None))
    clock.advance(seconds - 1)
    with pytest.raises(Exhausted):
        pool.pick((A,), model=MODEL)
    clock.advance(1)
    assert pool.pick((A,), model=MODEL) == A


def test_429_waits_for_resets_at_then_the_account_returns() -> None:
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    pool.record(A, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=300, plan_type="plus"))
    assert set(picks(pool, 4, candidates=(A, B))) == {"b"}
    clock.advance(300)
    assert set(picks(pool, 4, candidates=(A, B))) == {"a", "b"}


@pytest.mark.parametrize(("outcome", "status"), [
    (Outcome.RATE_LIMITED, 429),  # a 429 without a reset time is a blip of the backend
    (Outcome.SERVER_ERROR, 502),
    (Outcome.DISCONNECTED, 502),
])
def test_repeated_transient_failures_rest_5_s_doubling_to_5_minutes(outcome: Outcome, status: int) -> None:
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    waits = []
    for _ in range(10):
        strike(pool, clock, A, times=1, outcome=outcome, status=status)
        waits.append(max(0.0, pool.state(A.id).cooling_until - clock.now))
    assert waits[:2] == [0, 0] and waits[2:6] == [5, 10, 20, 40] and waits[-1] == 300


def test_transient_failures_never_rest_the_last_account() -> None:
    clock = Clock()
    pool = pool_of(A, clock=clock)
    strike(pool, clock, A, times=10)
    assert pool.pick((A,), model=MODEL) == A


def test_a_success_ends_a_transient_rest_and_the_count_starts_again() -> None:
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    strike(pool, clock, A, times=3)
    assert pool.state(A.id).cooling_until - clock.now == 5
    clock.advance(5)
    pool.record(A, MODEL, None)  # an attempt begun after the rest did
    assert pool.pick((A,), model=MODEL, exclude={B.id}) == A and not pool.state(A.id).resting
    strike(pool, clock, A, times=2)
    assert not pool.state(A.id).cooling_until  # two new blips: not yet a rest


def test_bad_request_cools_nobody() -> None:
    pool = pool_of(A)
    pool.record(A, MODEL, failure(Outcome.BAD_REQUEST, 400))
    pool.record(A, MODEL, failure(Outcome.CONTEXT_TOO_LARGE, 400))
    assert pool.pick((A,), model=MODEL) == A


def test_model_unsupported_blocks_that_model_only_for_12_hours() -> None:
    clock = Clock()
    pool = pool_of(A, clock=clock)
    pool.record(A, MODEL, failure(Outcome.MODEL_UNSUPPORTED, 404))
    assert pool.pick((A,), model="gpt-5.5") == A
    with pytest.raises(Exhausted):
        pool.pick((A,), model=MODEL)
    clock.advance(12 * 3600)
    assert pool.pick((A,), model=MODEL) == A


def test_cloudflare_cools_every_account_behind_the_same_egress() -> None:
    clock = Clock()
    proxied = cred("c", proxy_url="http://proxy:3128")
    pool = pool_of(A, B, proxied, clock=clock)
    strike(pool, clock, A, times=2, outcome=Outcome.CLOUDFLARE, status=403)
    assert set(picks(pool, 3, candidates=(A, B, proxied))) == {"a", "b", "c"}
    strike(pool, clock, A, times=1, outcome=Outcome.CLOUDFLARE, status=403)
    assert set(picks(pool, 3, candidates=(A, B, proxied))) == {"c"}
    clock.advance(10)
    assert set(picks(pool, 3, candidates=(A, B, proxied))) == {"a", "b", "c"}


def test_401_lasts_until_the_credential_changes() -> None:
    clock = Clock()
    pool = pool_of(A, clock=clock)
    pool.record(A, MODEL, failure(Outcome.UNAUTHORIZED, 401))
    clock.advance(10 * 86400)
    with pytest.raises(Exhausted) as raised:
        pool.pick((A,), model=MODEL)
    error = raised.value.error("openai")
    assert error.status == 503 and "cliproxy login" in error.message and "account #1" in error.message
    assert "@example.com" not in error.message
    pool.replace(cred("a", access_token="tok-a-new"))
    assert pool.pick((A,), model=MODEL).access_token == "tok-a-new"


def test_reload_with_a_new_token_ends_a_401() -> None:
    pool = pool_of(A)
    pool.record(A, MODEL, failure(Outcome.UNAUTHORIZED, 401))
    pool.update([A])
    with pytest.raises(Exhausted):
        pool.pick((A,), model=MODEL)
    pool.update([cred("a", access_token="tok-a-2")])
    assert pool.pick((A,), model=MODEL).access_token == "tok-a-2"


def test_disable_cooling_never_blocks() -> None:
    relaxed = cred("a", disable_cooling=True)
    pool = pool_of(relaxed)
    pool.record(relaxed, MODEL, failure(Outcome.RATE_LIMITED, 429, retry_after=100))
    assert pool.pick((relaxed,), model=MODEL) == relaxed
    everyone = pool_of(A, disable_cooling=True)
    everyone.record(A, MODEL, failure(Outcome.SERVER_ERROR))
    assert everyone.pick((A,), model=MODEL) == A


def test_a_full_quota_window_is_skipped_by_every_strategy_until_it_resets() -> None:
    for strategy in ("round-robin", "fill-first", "headroom"):
        clock = Clock()
        pool = pool_of(A, B, strategy=strategy, clock=clock)
        pool.observe_headers(A, {"x-codex-primary-used-percent": "100", "x-codex-primary-window-minutes": "300",
                                 "x-codex-primary-reset-at": str(int(clock.now + 50))})
        assert set(picks(pool, 4, candidates=(A, B))) == {"b"}, strategy
        clock.advance(50)
        assert "a" in picks(pool, 4, candidates=(A, B)), strategy


def window(used: float, reset: float, minutes: int = 300) -> dict[str, str]:
    return {"x-codex-primary-used-percent": str(used), "x-codex-primary-window-minutes": str(minutes),
            "x-codex-primary-reset-at": str(int(reset))}


def test_headroom_prefers_most_quota_left_then_the_earlier_reset() -> None:
    clock = Clock()
    pool = pool_of(A, B, C, strategy="headroom", clock=clock)
    pool.observe_headers(A, window(70, clock.now + 100))
    pool.observe_headers(B, window(20, clock.now + 900))
    pool.observe_headers(C, window(20, clock.now + 300))
    assert picks(pool, 2) == list("cc")
    pool.observe_headers(C, window(90, clock.now + 300))
    assert picks(pool, 1) == ["b"]
    clock.advance(100)  # A's window resets: 0 % used
    assert picks(pool, 1) == ["a"]


def test_affinity_keeps_a_session_and_moves_it_when_the_account_cools() -> None:
    clock = Clock()
    pool = pool_of(A, B, C, clock=clock)
    first = pool.pick((A, B, C), model=MODEL, session="s1")
    assert {pool.pick((A, B, C), model=MODEL, session="s1").id for _ in range(5)} == {first.id}
    pool.record(first, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=600))
    moved = pool.pick((A, B, C), model=MODEL, session="s1")
    assert moved.id != first.id
    clock.advance(601)
    assert pool.pick((A, B, C), model=MODEL, session="s1").id == moved.id


def test_affinity_survives_a_transient_error() -> None:
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    bound = pool.pick((A, B), model=MODEL, session="s1")
    pool.record(bound, MODEL, failure(Outcome.SERVER_ERROR, 502))
    elsewhere = pool.pick((A, B), model=MODEL, session="s1", exclude={bound.id})  # the runner's failover
    assert elsewhere.id != bound.id
    assert pool.pick((A, B), model=MODEL, session="s1").id == bound.id  # the next request: home again
    strike(pool, clock, bound, times=2, status=502)  # three in a row: it rests, briefly
    assert pool.pick((A, B), model=MODEL, session="s1").id == elsewhere.id
    clock.advance(5)
    assert pool.pick((A, B), model=MODEL, session="s1").id == bound.id


def test_affinity_expires_and_is_bounded() -> None:
    clock = Clock()
    pool = pool_of(A, B, clock=clock, affinity_ttl=10)
    bound = pool.pick((A, B), model=MODEL, session="s1")
    clock.advance(11)
    assert pool.session_account("s1", MODEL) is None
    assert bound
    small = pool_of(A, B, clock=clock)
    small._affinity.limit = 100
    for n in range(500):
        small.pick((A, B), model=MODEL, session=f"s{n}")
    assert len(small._affinity) == 100


def test_round_robin_continues_from_a_shared_position() -> None:
    pool = pool_of(A, B, C)
    assert pool.pick((A, B, C), model=MODEL).id == A.id
    pool.follow_turn(MODEL, 5)  # five picks counted across the instances: the sixth is the third account's
    assert [pool.pick((A, B, C), model=MODEL).id for _ in range(3)] == [C.id, A.id, B.id]
    pool.follow_turn("another-model", 1)  # another model's position moves nothing here
    assert pool.pick((A, B, C), model=MODEL).id == C.id


def test_bindings_read_by_hash_send_their_session_home_until_they_expire() -> None:
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    taken = pool.adopt_bindings([(opaque("s1", MODEL), B.id, 60.0), (opaque("s2", MODEL), B.id, 5.0),
                                 (opaque("s3", MODEL), "codex-gone.json", 60.0)])
    assert taken == 2  # an account this pool does not have is left
    assert pool.pick((A, B), model=MODEL, session="s1").id == B.id  # round robin alone would start at a
    assert pool.pick((A, B), model=MODEL, session="s1").id == B.id
    assert pool.session_account("s1", "another-model") is None  # a binding is per model
    clock.advance(6)
    assert pool.pick((A, B), model=MODEL, session="s2").id == A.id  # s2's binding had expired
    assert pool.snapshot()["sessions"] == 2


def test_a_session_another_instance_moved_follows_it_here_too() -> None:
    pool = pool_of(A, B)
    assert pool.pick((A, B), model=MODEL, session="s1").id == A.id  # bound here to a
    pool.adopt_bindings([(opaque("s1", MODEL), B.id, 60.0)])  # another instance moved it to b since
    assert pool.pick((A, B), model=MODEL, session="s1").id == B.id
    assert pool.pick((A, B), model=MODEL, session="s1").id == B.id


def test_all_cooling_is_one_aggregated_429_shaped_per_dialect() -> None:
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    pool.record(A, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=300,
                                  message="The usage limit has been reached"))
    pool.record(B, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=120))
    with pytest.raises(Exhausted) as raised:
        pool.pick((A, B), model=MODEL)
    chat = raised.value.error("openai")
    assert chat.status == 429 and chat.headers() == {"Retry-After": "120"}
    assert openai_error_body(chat)["error"] | {"message": ""} == {
        "message": "", "type": "rate_limit_error", "code": "rate_limit_exceeded", "param": None}
    assert "All 2 accounts are resting" in chat.message and "in 120 s" in chat.message
    assert "account #2" in chat.message and "@example.com" not in chat.message
    codex = openai_error_body(raised.value.error("openai-response"))["error"]
    assert codex["type"] == codex["code"] == "usage_limit_reached"
    assert codex["resets_in_seconds"] == 120 and codex["resets_at"] == int(clock.now + 120)
    assert codex["plan_type"] == "plus"
    claude = raised.value.error("claude")
    assert claude.type == "rate_limit_error" and not claude.code


def test_a_transient_last_error_is_returned_as_itself() -> None:
    pool = pool_of(A)
    last = failure(Outcome.SERVER_ERROR, 502)
    pool.record(A, MODEL, last)
    with pytest.raises(Exhausted) as raised:
        pool.pick((A,), model=MODEL, exclude={A.id})
    assert raised.value.error("openai", last) is last


def test_no_candidates_names_cliproxy_login() -> None:
    with pytest.raises(Exhausted) as raised:
        pool_of().pick((), model=MODEL)
    assert raised.value.error("openai").status == 503 and "cliproxy login" in raised.value.error("openai").message


def test_snapshot_is_plain_data_without_tokens() -> None:
    clock = Clock()
    pool = pool_of(A, B, clock=clock)
    pool.observe_headers(A, window(40, clock.now + 100))
    pool.record(B, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=60))
    snapshot = pool.snapshot()
    text = repr(snapshot)
    assert "tok-a" not in text and "tok-b" not in text
    states = {a["name"]: a for a in snapshot["accounts"]}
    assert states["a@example.com"]["state"] == "available"
    assert states["a@example.com"]["windows"]["short"]["used_percent"] == 40
    assert states["b@example.com"]["state"] == "quota" and states["b@example.com"]["until"] == clock.now + 60


def test_state_survives_a_restart_and_a_changed_file_ends_a_401() -> None:
    clock = Clock()
    pool = pool_of(A, B, C, clock=clock)
    pool.record(A, MODEL, failure(Outcome.QUOTA_EXHAUSTED, 429, retry_after=600))
    pool.record(B, MODEL, failure(Outcome.UNAUTHORIZED, 401))
    pool.record(C, MODEL, failure(Outcome.UNAUTHORIZED, 401))
    saved = pool.export_state()
    clock.advance(5)
    again = pool_of(A, B, cred("c", last_refresh_at=123.0), clock=clock)
    again.restore(saved)
    assert again.pick((A, B, cred("c")), model=MODEL).email == "c@example.com"
    with pytest.raises(Exhausted):
        again.pick((A, B), model=MODEL)
    assert again.state(A.id).requests == 1


@pytest.mark.parametrize(("error", "seconds"), [
    ({"type": "usage_limit_reached", "message": "limit", "resets_at": 1_790_000_300, "resets_in_seconds": 999}, 300),
    ({"type": "usage_limit_reached", "message": "limit", "resets_in_seconds": 120}, 120),
])
def test_scenario_6_the_429_body_sets_the_block(error: dict[str, object], seconds: float) -> None:
    clock = Clock(1_790_000_000.0)
    pool = pool_of(A, B, clock=clock)
    pool.record(A, MODEL, classify_http_error(429, json.dumps({"error": error}).encode(), {}, clock.now))
    assert picks(pool, 2, candidates=(A, B)) == ["b", "b"]
    clock.advance(seconds - 1)
    assert picks(pool, 2, candidates=(A, B)) == ["b", "b"]
    clock.advance(1)
    assert "a" in picks(pool, 2, candidates=(A, B))
