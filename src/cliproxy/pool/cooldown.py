"""How an outcome rests an account: the ``COOLDOWNS`` table, the backoff, and the state it writes.

The pool records every attempt; a failure becomes a rest through one table keyed by ``Outcome``
(it replaces CPA's cooldowns, which were kept per model even for account-wide failures):

| outcome | scope | until |
|---|---|---|
| 429 ``usage_limit_reached`` / a window at 100 % | account | its reset time (``resets_at``) |
| 429 with a ``Retry-After`` over 60 s | account | the ``Retry-After`` |
| ``usage_not_included`` / ``insufficient_quota`` | account | 1 h |
| 401 after the refresh-and-retry | account | the credential changes (refresh, new file) |
| 401, and the issuer could not renew the token now | account | 60 s, or a new token in the file |
| 402 / 403 | account | 30 min |
| model not supported / a 404 about the model | (account, model) | 12 h |
| 408 / 5xx / transport error / short 429 (transient) | account | after 3 in a row: 5 s × 2ⁿ (cap 5 min) |
| Cloudflare challenge (transient) | egress (same proxy-url) | after 3 in a row: 10 s × 2ⁿ (cap 30 min) |
| 400, context too large, unknown item, a value we cannot send | nobody | — |
| our own bug | nobody | — |

An egress rests only while an account behind another egress can serve. Whose fault each outcome is
comes from ``errors.BLAME``; only the account's own failures rest it at once. The upstream's transient
failures rest an account only when they repeat, and never the last account that could still serve.
Outcomes are recorded once per episode: attempts that were in flight together when an account failed
count as one strike, and a success clears only a rest that began before its attempt did (a stream that
started before a 429 does not end the rest the 429 began).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cliproxy.errors import Blame, Outcome, ProxyError
from cliproxy.pool.quota_view import AccountQuota

NEEDS_USER = math.inf  # a rest that ends only when the user acts (a new login, an edited file)
MAX_BACKOFF = 30 * 60.0
MAX_REASON = 160  # characters of the upstream's message kept in a reason
# The upstream's transient failures: an account rests only after this many in a row, for a few
# seconds doubling up to a cap of minutes.
TRANSIENT_STRIKES = 3
TRANSIENT_REST = 5.0
TRANSIENT_CAP = 300.0
# Rests that a fresh quota read with headroom ends before their time.
QUOTA_RESTS = frozenset({Outcome.QUOTA_EXHAUSTED, Outcome.RATE_LIMITED})
# Rests that a new token in the account file cures (a re-login, an import, another process's
# refresh): all but what the plan or the quota decides.
LOGIN_CURES = frozenset({Outcome.UNAUTHORIZED, Outcome.FORBIDDEN, Outcome.RATE_LIMITED, Outcome.SERVER_ERROR,
                         Outcome.DISCONNECTED, Outcome.CLOUDFLARE})

__all__ = [
    "COOLDOWNS",
    "LOGIN_CURES",
    "MAX_BACKOFF",
    "NEEDS_USER",
    "QUOTA_RESTS",
    "AccountState",
    "Rule",
    "backoff",
    "on_failure",
    "on_success",
    "reason",
]


@dataclass(frozen=True)
class Rule:
    """How long an outcome keeps an account (or model, or egress) out of rotation."""

    scope: str  # "account" | "model" | "egress"
    seconds: float  # fixed time, or the first step of an exponential backoff
    exponential: bool = False
    upstream_time: bool = False  # the upstream's resets_at / Retry-After wins when given
    label: str = ""

    def step(self, strikes: int) -> float:
        """The rest after ``strikes`` consecutive failures: fixed, or doubling up to the cap."""
        if self.exponential:
            return min(MAX_BACKOFF, self.seconds * 2.0 ** (strikes - 1))
        return self.seconds


COOLDOWNS: dict[Outcome, Rule] = {
    Outcome.QUOTA_EXHAUSTED: Rule("account", 1.0, exponential=True, upstream_time=True, label="usage limit reached"),
    Outcome.RATE_LIMITED: Rule("account", 1.0, exponential=True, upstream_time=True, label="rate limited"),
    Outcome.NO_QUOTA: Rule("account", 3600.0, label="no Codex quota on this plan"),
    Outcome.UNAUTHORIZED: Rule("account", NEEDS_USER, upstream_time=True,
                               label="unauthorized: run `cliproxy login` again"),
    Outcome.FORBIDDEN: Rule("account", 1800.0, label="forbidden"),
    Outcome.MODEL_UNSUPPORTED: Rule("model", 12 * 3600.0, label="model not available to this account"),
    Outcome.SERVER_ERROR: Rule("account", 60.0, exponential=True, label="upstream error"),
    Outcome.DISCONNECTED: Rule("account", 60.0, exponential=True, label="upstream connection failed"),
    Outcome.CLOUDFLARE: Rule("egress", 10.0, exponential=True, label="Cloudflare challenge on this egress"),
}


@dataclass(slots=True)
class AccountState:
    """What the pool knows about one account beyond its file."""

    cooling_until: float = 0.0
    reason: str = ""
    outcome: Outcome | None = None
    strikes: int = 0  # consecutive failures with the same outcome: the backoff exponent
    model_blocks: dict[str, float] = field(default_factory=dict)
    quota: AccountQuota = field(default_factory=AccountQuota)
    requests: int = 0
    errors: int = 0
    last_used_at: float = 0.0
    last_status: int = 0
    since: float = 0.0  # when the current rest began
    blame: Blame | None = None  # whose fault the current rest is (a long 429 is the account's, a short one not)
    transient: int = 0  # the upstream's transient failures on this account in a row
    transient_at: float = 0.0  # when the last of them was recorded

    def clear(self) -> None:
        self.cooling_until, self.reason, self.outcome, self.strikes, self.since = 0.0, "", None, 0, 0.0
        self.blame = None
        self.transient = 0
        self.quota.clear_limit()

    @property
    def resting(self) -> bool:
        return self.outcome is not None or bool(self.cooling_until) or bool(self.quota.limit_until)


def backoff(rule: Rule, error: ProxyError, strikes: int) -> float:
    """Seconds of rest: the upstream's own time when the rule trusts it and it gave one."""
    if rule.upstream_time and error.retry_after is not None and error.retry_after > 0:
        return error.retry_after
    return rule.step(strikes)


# A 401 whose token the issuer could not renew now: the rest ends by itself, no login needed.
RENEWAL_PENDING = "its token could not be renewed yet"


def reason(rule: Rule, error: ProxyError) -> str:
    """What the user reads in status and in the aggregated error: the upstream's words when useful."""
    message = error.message.strip().rstrip(".")
    if len(message) > MAX_REASON:
        message = message[:MAX_REASON - 3] + "…"
    label = rule.label
    if error.outcome is Outcome.UNAUTHORIZED and error.retry_after:
        label = RENEWAL_PENDING  # not "run cliproxy login": the refresh is retried by itself
    return f"{label}: {message}" if message and message.lower() not in label else label


def on_success(state: AccountState, started: float) -> str | None:
    """A success of an attempt that began at ``started``: the rest it ends (its reason), if any.

    A rest that began after the attempt did is not the attempt's to end: the account failed for
    others meanwhile (a 429 while this stream was running), and that is newer news.
    """
    if state.transient_at < started:
        state.transient = 0
    if not state.resting or state.since > started:
        return None
    why = state.reason or "resting"
    state.clear()
    return why


def on_failure(state: AccountState, error: ProxyError, model: str, started: float, now: float,
               alone: bool) -> Rule | None:
    """Apply one failed attempt to ``state``; the rule of the rest it began, or None when none.

    ``alone``: no other account could serve now, so a transient failure must not rest this one.
    """
    rule = COOLDOWNS.get(error.outcome)
    if rule is None or error.blame in (Blame.REQUEST, Blame.OURS):
        return None
    if error.blame is Blame.UPSTREAM:
        return _transient(state, rule, error, model, started, now, alone)
    if state.outcome is error.outcome and state.since >= started:
        return None  # the same episode, reported by another attempt that was in flight with it
    state.strikes = state.strikes + 1 if state.outcome is error.outcome else 1
    _rest(state, rule, error, model, now, backoff(rule, error, state.strikes))
    return rule


def _transient(state: AccountState, rule: Rule, error: ProxyError, model: str, started: float, now: float,
               alone: bool) -> Rule | None:
    if state.transient_at >= started:
        return None  # one blip, seen by every attempt that was in flight when it happened
    state.transient += 1
    state.transient_at = now
    if state.transient < TRANSIENT_STRIKES or alone:
        return None
    seconds = min(TRANSIENT_CAP, TRANSIENT_REST * 2.0 ** (state.transient - TRANSIENT_STRIKES))
    if error.retry_after:
        seconds = max(seconds, min(error.retry_after, TRANSIENT_CAP))
    _rest(state, rule, error, model, now, seconds)
    return rule


def _rest(state: AccountState, rule: Rule, error: ProxyError, model: str, now: float, seconds: float) -> None:
    if rule.scope == "model":
        state.model_blocks[model] = now + seconds
    elif rule.scope == "account":
        state.cooling_until = now + seconds
        if error.outcome is Outcome.QUOTA_EXHAUSTED:
            state.quota.limit_reached(now + seconds, str(error.extra.get("plan_type") or ""), now)
    state.outcome, state.reason, state.since, state.blame = error.outcome, reason(rule, error), now, error.blame
