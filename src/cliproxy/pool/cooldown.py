"""How an outcome rests an account: the ``COOLDOWNS`` table, the backoff, and the state it writes.

The pool records every attempt; a failure becomes a rest through one table keyed by ``Outcome``
(issue 6; it replaces CPA's per-model table of proxy.md §5.4):

| outcome | scope | until |
|---|---|---|
| 429 ``usage_limit_reached`` / a window at 100 % | account | its reset time (``resets_at``) |
| 429 other | account | ``Retry-After``, else 1 s × 2ⁿ (cap 30 min) |
| ``usage_not_included`` / ``insufficient_quota`` | account | 1 h |
| 401 after the refresh-and-retry | account | the credential changes (refresh, new file) |
| 402 / 403 | account | 30 min |
| model not supported / 404 | (account, model) | 12 h |
| 408 / 5xx / transport error | account | 1 min × 2ⁿ (cap 30 min) |
| Cloudflare challenge | egress (same proxy-url) | 10 s × 2ⁿ (cap 30 min) |
| 400, context too large | nobody | — |

A success clears the account's state at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cliproxy.errors import Outcome, ProxyError
from cliproxy.pool.quota_view import AccountQuota

NEEDS_USER = math.inf  # a rest that ends only when the user acts (a new login, an edited file)
MAX_BACKOFF = 30 * 60.0
MAX_REASON = 160  # characters of the upstream's message kept in a reason

__all__ = ["COOLDOWNS", "MAX_BACKOFF", "NEEDS_USER", "AccountState", "Rule", "backoff", "reason"]


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
    Outcome.UNAUTHORIZED: Rule("account", NEEDS_USER, label="unauthorized: run `cliproxy login` again"),
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

    def clear(self) -> None:
        self.cooling_until, self.reason, self.outcome, self.strikes = 0.0, "", None, 0
        self.quota.clear_limit()


def backoff(rule: Rule, error: ProxyError, strikes: int) -> float:
    """Seconds of rest: the upstream's own time when the rule trusts it and it gave one."""
    if rule.upstream_time and error.retry_after is not None and error.retry_after > 0:
        return error.retry_after
    return rule.step(strikes)


def reason(rule: Rule, error: ProxyError) -> str:
    """What the user reads in status and in the aggregated error: the upstream's words when useful."""
    message = error.message.strip()
    if len(message) > MAX_REASON:
        message = message[:MAX_REASON - 3] + "…"
    return f"{rule.label}: {message}" if message and message.lower() not in rule.label else rule.label
