"""No account can take a request: the one aggregated error, shaped for the client's dialect.

While any account will come back by itself the answer is a 429 with ``Retry-After`` = seconds to
the earliest return and a message saying how many accounts are cooling and when the first is
back. Responses clients (Codex CLI) get the ``usage_limit_reached`` shape, the only 429 Codex CLI
shows a reset time for. Only when every account needs the user
(login again, enable it) is the answer a 503 naming them and the command that fixes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cliproxy.errors import Outcome, ProxyError

RESPONSES_DIALECT = "openai-response"
ANTHROPIC_DIALECT = "claude"
# Blips: a session bound to an account keeps its binding through these.
TRANSIENT = frozenset({Outcome.SERVER_ERROR, Outcome.DISCONNECTED, Outcome.CLOUDFLARE})
# Failures the aggregate explains better than the last attempt's own error: the client learns when
# the pool is back (quota) or which accounts need a login, not one account's 429 or 401.
AGGREGATED = frozenset({Outcome.QUOTA_EXHAUSTED, Outcome.RATE_LIMITED, Outcome.NO_QUOTA, Outcome.UNAUTHORIZED})


@dataclass
class Shortage:
    """Why no candidate could be picked: who is cooling until when, who needs the user."""

    model: str
    accounts: int
    cooling: list[tuple[float, str, str]] = field(default_factory=list)  # (until, name, reason)
    needs_user: list[tuple[str, str]] = field(default_factory=list)  # (name, what to do)
    tried: int = 0  # ready, but already tried in this request
    plan: str = "plus"
    now: float = 0.0


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


def _clock_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M UTC")


def cooling_message(shortage: Shortage) -> str:
    first_at, name, reason = min(shortage.cooling)
    wait = max(1, math.ceil(first_at - shortage.now))
    count = len(shortage.cooling)
    noun = "account is" if count == 1 else "accounts are"
    head = f"All {count} {noun} cooling down" if shortage.accounts == count else (
        f"{count} {noun} cooling down and {shortage.accounts - count} need attention")
    return (f"{head} for model {shortage.model}; the first is back at {_clock_time(first_at)} "
            f"(in {wait} s): {name} — {reason or 'cooling down'}.")


def cooling_error(shortage: Shortage, dialect: str) -> ProxyError:
    """The aggregated 429, per dialect (docs/errors.md, "When no account can take the request")."""
    first_at = min(until for until, _, _ in shortage.cooling)
    wait = max(1, math.ceil(first_at - shortage.now))
    message = cooling_message(shortage)
    if dialect == RESPONSES_DIALECT:
        return ProxyError(429, message, code="usage_limit_reached", type="usage_limit_reached",
                          outcome=Outcome.RATE_LIMITED, retry_after=wait,
                          extra={"plan_type": shortage.plan, "resets_at": math.ceil(first_at),
                                 "resets_in_seconds": wait})
    code = "" if dialect == ANTHROPIC_DIALECT else "rate_limit_exceeded"
    return ProxyError(429, message, code=code, type="rate_limit_error", outcome=Outcome.RATE_LIMITED,
                      retry_after=wait)


def needs_user_error(shortage: Shortage) -> ProxyError:
    """The 503 when no account will come back by itself: say which ones and what to run."""
    listed = "; ".join(f"{name} ({why})" for name, why in shortage.needs_user[:10])
    more = len(shortage.needs_user) - 10
    if more > 0:
        listed += f"; and {more} more"
    return ProxyError(503, f"No account can serve model {shortage.model}: {listed}. Run `cliproxy login` "
                      "to sign in again, or enable the account in its file.",
                      code="auth_unavailable", type="server_error", outcome=Outcome.UNAUTHORIZED)
