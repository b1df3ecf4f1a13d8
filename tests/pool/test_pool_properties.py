"""Property: whatever happened before, a pick never returns an account that is cooling down, and
returns one whenever one can serve. The index (selectors, wake-ups) is checked against
the pool's direct, account-by-account answer and against the cooldowns the test itself recorded."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from cliproxy.errors import Outcome
from cliproxy.pool.core import Pool
from cliproxy.pool.shortage import Exhausted
from tests.pool.helpers import Clock, cred, failure

MODELS = ("gpt-5.4", "gpt-5.5")
ACCOUNTS = [cred(name, priority=priority, weight=weight, proxy_url=proxy)
            for name, priority, weight, proxy in (("a", 0, 1, ""), ("b", 0, 2, ""), ("c", 1, 1, "http://p"),
                                                  ("d", 0, 1, "http://p"), ("e", 1, 3, ""))]
OUTCOMES = [None, Outcome.RATE_LIMITED, Outcome.QUOTA_EXHAUSTED, Outcome.NO_QUOTA, Outcome.UNAUTHORIZED,
            Outcome.FORBIDDEN, Outcome.MODEL_UNSUPPORTED, Outcome.SERVER_ERROR, Outcome.DISCONNECTED,
            Outcome.CLOUDFLARE, Outcome.BAD_REQUEST]

step = st.one_of(
    st.tuples(st.just("pick"), st.sampled_from(MODELS), st.sets(st.integers(0, 4), max_size=3),
              st.sampled_from([None, "s1", "s2"])),
    st.tuples(st.just("record"), st.integers(0, 4), st.sampled_from(MODELS), st.sampled_from(OUTCOMES),
              st.one_of(st.none(), st.floats(1, 5000))),
    st.tuples(st.just("quota"), st.integers(0, 4), st.sampled_from([0, 50, 99.5, 100]), st.floats(1, 4000)),
    st.tuples(st.just("wait"), st.floats(0, 4000)),
    st.tuples(st.just("replace"), st.integers(0, 4)),
)


@settings(max_examples=300, deadline=None)
@given(strategy=st.sampled_from(["round-robin", "fill-first", "headroom"]),
       prefer=st.sampled_from(["off", "short", "long"]), steps=st.lists(step, max_size=60))
def test_never_picks_a_cooling_account_and_always_picks_an_available_one(strategy: str, prefer: str,
                                                                         steps: list) -> None:  # type: ignore[type-arg]
    clock = Clock()
    pool = Pool(ACCOUNTS, strategy, clock=clock, prefer_earlier_reset=prefer)
    recorded_until: dict[str, float] = {}  # the test's own memory of upstream reset times
    for action, *args in steps:
        if action == "wait":
            clock.advance(args[0])
        elif action == "record":
            index, model, outcome, retry = args
            credential = ACCOUNTS[index]
            pool.record(credential, model, None if outcome is None else failure(outcome, 429, retry_after=retry))
            if outcome is None:
                recorded_until.pop(credential.id, None)
            elif outcome is Outcome.QUOTA_EXHAUSTED and retry is not None:
                recorded_until[credential.id] = clock.now + retry
        elif action == "quota":
            index, used, reset_in = args
            pool.observe_headers(ACCOUNTS[index], {"x-codex-primary-used-percent": str(used),
                                                   "x-codex-primary-window-minutes": "300" if index % 2 else "10080",
                                                   "x-codex-primary-reset-at": str(clock.now + reset_in)})
        elif action == "replace":
            pool.replace(dataclasses.replace(ACCOUNTS[args[0]], access_token=f"new-{clock.now}"))
        else:
            check_pick(pool, clock, recorded_until, *args)


def check_pick(pool: Pool, clock: Clock, recorded_until: dict[str, float], model: str, excluded: set[int],
               session: str | None) -> None:
    exclude = {ACCOUNTS[i].id for i in excluded}
    available = [c for c in ACCOUNTS
                 if c.id not in exclude and pool.blocked_until(pool.current(c), model, clock.now) == 0]
    try:
        chosen = pool.pick(ACCOUNTS, model=model, exclude=exclude, session=session)
    except Exhausted:
        assert not available
        return
    assert chosen.id in {c.id for c in available}
    assert recorded_until.get(chosen.id, 0) <= clock.now
    if session is None:
        assert chosen.priority == max(c.priority for c in available)
