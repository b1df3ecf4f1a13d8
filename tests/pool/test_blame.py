"""The blame table, row by row: whose fault each failure is, whether the account rests, for how long,
and what the next pick gives, with one account and with three.

Every failure is built the way the program builds it (the classifier, the header check, the
refresher, the runner), then recorded on account ``a`` of a pool with a hand-driven clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from cliproxy.auth.errors import RefreshError
from cliproxy.auth.refresh import _needs_login, _transient
from cliproxy.credential import Credential
from cliproxy.errors import Blame, ProxyError, openai_error_body
from cliproxy.pool.core import Pool
from cliproxy.pool.shortage import Exhausted
from cliproxy.runner import internal_error
from cliproxy.upstream.classify import classify_http_error, classify_stream_error, disconnected
from cliproxy.upstream.request import check_client_headers
from tests.pool.helpers import MODEL, Clock, cred

NOW = 1_790_000_000.0
A, B, C = cred("a"), cred("b"), cred("c")
RESPONSES = "openai-response"  # Codex CLI's dialect: the one with the usage_limit_reached shape


def http(status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> ProxyError:
    return classify_http_error(status, json.dumps({"error": error}).encode(), headers or {}, NOW)


def header_refused(value: str) -> ProxyError:
    try:
        check_client_headers({}, value)
    except ProxyError as refused:
        return refused
    raise AssertionError(f"{value!r} was accepted")


@dataclass(frozen=True)
class Row:
    """One row of the table. ``once``: seconds the account rests after one failure. ``repeated``:
    after three in a row while other accounts can serve (a lone account never rests for a blip).
    ``alone``: the status and code a Codex CLI client reads while a one-account pool rests."""

    name: str
    error: ProxyError
    blame: Blame
    once: float
    repeated: float
    alone: tuple[int, str] | None = None


ROWS = [
    Row("400 bad request", http(400, {"message": "Invalid tool schema", "type": "invalid_request_error"}),
        Blame.REQUEST, 0, 0),
    Row("404 item not found",
        http(404, {"message": "Item with id 'rs_1' not found. Items are not persisted when `store` is set to "
                              "false. Try again with `store` set to true, or remove this item from your input.",
                   "type": "invalid_request_error"}),
        Blame.REQUEST, 0, 0),
    Row("context too large", http(400, {"message": "Your input exceeds the context window of this model.",
                                        "code": "context_length_exceeded"}), Blame.REQUEST, 0, 0),
    Row("bad header value", header_refused("thread\r\nx-injected: 1"), Blame.REQUEST, 0, 0),
    Row("429 usage_limit_reached with its reset",
        http(429, {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                   "resets_at": int(NOW + 600), "plan_type": "plus"}),
        Blame.ACCOUNT, 600, 600, (429, "usage_limit_reached")),
    Row("429 rate_limit_exceeded, Retry-After 2",
        http(429, {"message": "Rate limit reached", "code": "rate_limit_exceeded"}, {"retry-after": "2"}),
        Blame.UPSTREAM, 0, 5),
    Row("429, Retry-After 3600", http(429, {"message": "Slow down", "code": "rate_limit_exceeded"},
                                      {"retry-after": "3600"}),
        Blame.ACCOUNT, 3600, 3600, (429, "rate_limit_exceeded")),
    Row("401, and the issuer cannot renew the token now",
        _transient(A, RefreshError("connection refused", permanent=False)),
        Blame.ACCOUNT, 60, 60, (429, "rate_limit_exceeded")),
    Row("401, and the refresh token was refused", _needs_login(A, "its refresh token was already used"),
        Blame.ACCOUNT, float("inf"), float("inf"), (503, "auth_unavailable")),
    Row("403", classify_http_error(403, b'{"detail": "Forbidden"}', {}, NOW),
        Blame.ACCOUNT, 1800, 1800, (429, "rate_limit_exceeded")),
    Row("500", classify_http_error(500, b'{"detail": "boom"}', {}, NOW), Blame.UPSTREAM, 0, 5),
    Row("502 cut before content", disconnected("connection reset by peer"), Blame.UPSTREAM, 0, 5),
    Row("response.failed server_error",
        classify_stream_error({"type": "response.failed", "response": {"status": "failed", "error": {
            "code": "server_error", "message": "An error occurred while processing your request."}}}, NOW),
        Blame.UPSTREAM, 0, 5),
    Row("our own bug", internal_error("0123abcd"), Blame.OURS, 0, 0),
]


def rest(pool: Pool, account: Credential, clock: Clock) -> float:
    """Seconds until ``account`` can serve again: 0 when it can now, inf when only the user can help."""
    until = pool.blocked_until(account, MODEL, clock.now)
    return until - clock.now if until else 0.0


def fail(pool: Pool, clock: Clock, row: Row, times: int) -> None:
    """``times`` failed attempts on ``a``, a second apart (failures at one instant are one episode)."""
    for _ in range(times):
        clock.advance(1)
        pool.record(A, MODEL, row.error)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_each_failure_has_one_culprit(row: Row) -> None:
    assert row.error.blame is row.blame
    assert row.error.retryable is (row.blame in (Blame.ACCOUNT, Blame.UPSTREAM))


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_with_three_accounts_only_the_accounts_own_failure_or_a_repeated_blip_rests_it(row: Row) -> None:
    clock = Clock(NOW)
    pool = Pool([A, B, C], clock=clock)
    fail(pool, clock, row, 1)
    assert rest(pool, A, clock) == pytest.approx(row.once, abs=1)
    served = {pool.pick((A, B, C), model=MODEL).email[0] for _ in range(6)}
    assert served == ({"b", "c"} if row.once else {"a", "b", "c"})
    fail(pool, clock, row, 2)
    assert rest(pool, A, clock) == pytest.approx(row.repeated, abs=1)
    served = {pool.pick((A, B, C), model=MODEL).email[0] for _ in range(6)}
    assert served == ({"b", "c"} if row.repeated else {"a", "b", "c"})


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_with_one_account_only_the_accounts_own_failure_rests_it(row: Row) -> None:
    clock = Clock(NOW)
    pool = Pool([A], clock=clock)
    fail(pool, clock, row, 3)  # three in a row: a blip still never rests the last account
    if row.alone is None:
        assert rest(pool, A, clock) == 0 and pool.pick((A,), model=MODEL) == A
        return
    assert rest(pool, A, clock) == pytest.approx(row.once, abs=1)
    with pytest.raises(Exhausted) as raised:
        pool.pick((A,), model=MODEL)
    told = raised.value.error(RESPONSES)
    assert (told.status, told.code) == row.alone
    assert "account #1" in told.message and "@example.com" not in json.dumps(openai_error_body(told))
    assert ("cliproxy login" in told.message) is (row.once == float("inf"))  # only when a login is the cure
    if row.once != float("inf"):
        assert told.headers()["Retry-After"] == str(int(row.once))


def test_a_transient_rest_first_back_is_a_short_503_the_client_retries_by_itself() -> None:
    # given a rests for three blips while b can serve, and then b spends its quota
    clock = Clock(NOW)
    pool = Pool([A, B], clock=clock)
    fail(pool, clock, ROWS[10], 3)
    pool.record(B, MODEL, ROWS[4].error)
    # when a request comes, then the first account back rests for the upstream's sake: a 503
    with pytest.raises(Exhausted) as raised:
        pool.pick((A, B), model=MODEL)
    told = raised.value.error(RESPONSES)
    assert (told.status, told.code, told.headers()) == (503, "upstream_unavailable", {"Retry-After": "5"})


def test_usage_limit_reached_only_when_every_resting_account_is_out_of_quota() -> None:
    # given a has spent its quota and b is refused (403): not every rest is a spent quota
    clock = Clock(NOW)
    pool = Pool([A, B], clock=clock)
    pool.record(A, MODEL, ROWS[4].error)
    pool.record(B, MODEL, ROWS[9].error)
    with pytest.raises(Exhausted) as raised:
        pool.pick((A, B), model=MODEL)
    # then Codex CLI, which treats usage_limit_reached as final, reads a plain rate limit instead
    told = raised.value.error(RESPONSES)
    assert (told.status, told.code) == (429, "rate_limit_exceeded")
    assert told.headers() == {"Retry-After": "600"}  # a's reset: the first back
