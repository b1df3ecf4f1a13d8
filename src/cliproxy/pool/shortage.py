"""No account can take a request: the one aggregated error, shaped for the client's dialect, telling
the truth about why.

- Every resting account rests for a spent quota: a 429 with ``Retry-After`` = seconds to the earliest
  reset. Responses clients (Codex CLI) get the ``usage_limit_reached`` shape, the only 429 Codex CLI
  shows a reset time for; since it treats that shape as final, it is used for nothing else.
- The soonest account back rests for the upstream's transient failures: a 503 with a short
  ``Retry-After``, which Codex CLI and the SDKs retry by themselves.
- Other rests of the accounts' own (a long rate limit, a refused account): a 429 ``rate_limit_exceeded``.
- Only when every account needs the user is the answer a 503 that says what to do: every account
  disabled, every API key refused, or logins to renew.

Accounts are named by the pool's public names (a label, or ``account #2``), never by an e-mail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from cliproxy.errors import Outcome, ProxyError

RESPONSES_DIALECT = "openai-response"
ANTHROPIC_DIALECT = "claude"
# Blips: a session bound to an account keeps its binding through these.
TRANSIENT = frozenset({Outcome.SERVER_ERROR, Outcome.DISCONNECTED, Outcome.CLOUDFLARE})
# Failures the aggregate explains better than the last attempt's own error: the client learns when
# the pool is back (quota) or which accounts need a login, not one account's 429 or 401.
AGGREGATED = frozenset({Outcome.QUOTA_EXHAUSTED, Outcome.RATE_LIMITED, Outcome.NO_QUOTA, Outcome.UNAUTHORIZED})
# The kinds of rest, in the words of the blame table.
QUOTA = "quota"
ACCOUNT_REST = "account"
TRANSIENT_REST = "transient"


class Rest(NamedTuple):
    """One resting account: until when, its public name, why, and whose fault (a kind above)."""

    until: float
    name: str
    reason: str
    kind: str


@dataclass
class Shortage:
    """Why no candidate could be picked: who rests until when, who needs the user."""

    model: str
    accounts: int
    cooling: list[Rest] = field(default_factory=list)
    needs_user: list[tuple[str, str]] = field(default_factory=list)  # (name, what to do)
    tried: int = 0  # ready, but already tried in this request
    disabled: int = 0  # of needs_user: disabled by the user
    api_keys: int = 0  # of needs_user: API keys (a login does not help them)
    plan: str = "plus"
    now: float = 0.0

    def soonest_wait(self) -> float | None:
        """Seconds until the first resting account is back, or None when none will come back alone."""
        if not self.cooling:
            return None
        return max(0.0, min(rest.until for rest in self.cooling) - self.now)


class Exhausted(Exception):
    """Raised by ``Pool.pick``; the runner turns it into the client's error with ``error``."""

    def __init__(self, shortage: Shortage) -> None:
        super().__init__(f"no account available for {shortage.model}")
        self.shortage = shortage

    def error(self, dialect: str, last_error: ProxyError | None = None) -> ProxyError:
        """The error to send: the last attempt's own when it says more, else the aggregate."""
        shortage = self.shortage
        if last_error is not None and (shortage.tried or last_error.outcome not in AGGREGATED):
            return last_error
        if shortage.accounts == 0:
            return no_accounts()
        if shortage.cooling:
            return cooling_error(shortage, dialect)
        return needs_user_error(shortage)


def no_accounts() -> ProxyError:
    """Nothing to send with: tell the user the one command that fixes it."""
    return ProxyError(503, "No account is configured. Run `cliproxy login` to add a ChatGPT account.",
                      code="auth_not_found", type="server_error", outcome=Outcome.UNAUTHORIZED)


def all_disabled(count: int) -> ProxyError:
    """Every account is disabled: a 503 that says so, not a 404 for a model nobody may serve."""
    noun = "account is" if count == 1 else f"{count} accounts are"
    return ProxyError(503, f"The {noun} disabled. Enable one with `cliproxy accounts enable NAME` (or "
                      "`disabled: false` in its file).", code="auth_unavailable", type="server_error",
                      outcome=Outcome.UNAUTHORIZED)


def _clock_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M UTC")


def cooling_message(shortage: Shortage) -> str:
    first = min(shortage.cooling)
    wait = max(1, math.ceil(first.until - shortage.now))
    count = len(shortage.cooling)
    noun = "account is" if count == 1 else "accounts are"
    head = f"All {count} {noun} resting" if shortage.accounts == count else (
        f"{count} {noun} resting and {shortage.accounts - count} need attention")
    return (f"{head} for model {shortage.model}; the first is back at {_clock_time(first.until)} "
            f"(in {wait} s): {first.name} — {first.reason or 'resting'}.")


def cooling_error(shortage: Shortage, dialect: str) -> ProxyError:
    """Every candidate rests: the error says whose fault that is, with the wait until the first returns."""
    first = min(shortage.cooling)
    wait = max(1, math.ceil(first.until - shortage.now))
    message = cooling_message(shortage)
    if first.kind == TRANSIENT_REST:
        return ProxyError(503, message, code="upstream_unavailable", type="server_error",
                          outcome=Outcome.SERVER_ERROR, retry_after=wait)
    if all(rest.kind == QUOTA for rest in shortage.cooling) and dialect == RESPONSES_DIALECT:
        return ProxyError(429, message, code="usage_limit_reached", type="usage_limit_reached",
                          outcome=Outcome.QUOTA_EXHAUSTED, retry_after=wait,
                          extra={"plan_type": shortage.plan, "resets_at": math.ceil(first.until),
                                 "resets_in_seconds": wait})
    code = "" if dialect == ANTHROPIC_DIALECT else "rate_limit_exceeded"
    return ProxyError(429, message, code=code, type="rate_limit_error", outcome=Outcome.RATE_LIMITED,
                      retry_after=wait)


def needs_user_error(shortage: Shortage) -> ProxyError:
    """The 503 when no account will come back by itself: say which ones and what to do."""
    listed = "; ".join(f"{name} ({why})" for name, why in shortage.needs_user[:10])
    more = len(shortage.needs_user) - 10
    if more > 0:
        listed += f"; and {more} more"
    count = len(shortage.needs_user)
    if shortage.disabled == count:
        advice = "Every account is disabled: enable one with `cliproxy accounts enable NAME`."
    elif shortage.api_keys == count:
        advice = "Every API key was refused by the upstream: check the `codex-api-key` entries of the config."
    else:
        advice = "Run `cliproxy login` to sign in again, or enable the account in its file."
    return ProxyError(503, f"No account can serve model {shortage.model}: {listed}. {advice}",
                      code="auth_unavailable", type="server_error", outcome=Outcome.UNAUTHORIZED)

