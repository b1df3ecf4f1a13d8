"""Credentials in memory with their state: which one serves the next request, and which rest.

The pool decides, the upstream client executes: the runner asks ``pick`` for an account, sends,
and reports the outcome with ``record``; the pool turns outcomes into cooldowns (one table,
``COOLDOWNS``) so an account that failed is skipped until it can succeed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .credentials import Credential
from .errors import Outcome, ProxyError

Clock = Callable[[], float]

# Outcome → (scope, base seconds, exponential?) — the single table of cooldowns (issue 6).
# Quota outcomes use the upstream's reset time when it gave one.
COOLDOWNS: dict[Outcome, tuple[str, float, bool]] = {
    Outcome.QUOTA_EXHAUSTED: ("account", 1.0, True),
    Outcome.RATE_LIMITED: ("account", 1.0, True),
    Outcome.NO_QUOTA: ("account", 3600.0, False),
    Outcome.UNAUTHORIZED: ("account", 1800.0, False),
    Outcome.FORBIDDEN: ("account", 1800.0, False),
    Outcome.MODEL_UNSUPPORTED: ("model", 12 * 3600.0, False),
    Outcome.SERVER_ERROR: ("account", 60.0, True),
    Outcome.DISCONNECTED: ("account", 60.0, True),
    Outcome.CLOUDFLARE: ("account", 10.0, True),
}
MAX_BACKOFF = 30 * 60.0
QUOTA_OUTCOMES = frozenset({Outcome.QUOTA_EXHAUSTED, Outcome.RATE_LIMITED, Outcome.NO_QUOTA})


@dataclass
class AccountState:
    """What the pool knows about one account beyond its file."""

    cooling_until: float = 0.0
    reason: str = ""
    outcome: Outcome | None = None
    failures: int = 0
    model_blocks: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0


class Pool:
    """All credentials with their state; selection round-robin or fill-first within a priority."""

    def __init__(self, credentials: Sequence[Credential], strategy: str = "round-robin",
                 clock: Clock = time.time) -> None:
        self._clock = clock
        self._strategy = strategy
        self._latest: dict[str, Credential] = {}
        self._states: dict[str, AccountState] = {}
        self._cursor = 0
        self.update(credentials)

    def update(self, credentials: Sequence[Credential], strategy: str | None = None) -> None:
        """A reload: new files replace old ones; state of accounts that stay is kept."""
        self._latest = {c.id: c for c in credentials}
        self._states = {cid: self._states.get(cid, AccountState()) for cid in self._latest}
        if strategy:
            self._strategy = strategy

    def replace(self, credential: Credential) -> None:
        """A refreshed token: the new credential serves from the next pick on, state cleared."""
        self._latest[credential.id] = credential
        state = self._states.setdefault(credential.id, AccountState())
        if state.outcome is Outcome.UNAUTHORIZED:
            self._states[credential.id] = AccountState(requests=state.requests, errors=state.errors)

    def current(self, credential: Credential) -> Credential:
        return self._latest.get(credential.id, credential)

    def state(self, credential_id: str) -> AccountState:
        return self._states.setdefault(credential_id, AccountState())

    def _blocked_until(self, credential: Credential, model: str, now: float) -> float:
        state = self.state(credential.id)
        until = state.cooling_until if state.cooling_until > now else 0.0
        model_until = state.model_blocks.get(model, 0.0)
        return max(until, model_until if model_until > now else 0.0)

    def pick(self, candidates: Sequence[Credential], *, model: str,
             exclude: Container[str] = ()) -> Credential:
        """The next account to try, or a ProxyError explaining why there is none."""
        now = self._clock()
        usable = [self.current(c) for c in candidates]
        usable = [c for c in usable if c.usable and c.id not in exclude]
        ready = [c for c in usable if not self._blocked_until(c, model, now)]
        if not ready:
            raise self._exhausted(candidates, usable, model, now)
        top = max(c.priority for c in ready)
        group = [c for c in ready if c.priority == top]
        if self._strategy == "fill-first":
            return group[0]
        chosen = group[self._cursor % len(group)]
        self._cursor += 1
        return chosen

    def record(self, credential: Credential, model: str, error: ProxyError | None) -> None:
        """Turn an attempt's outcome into state: success clears, failure cools down per COOLDOWNS."""
        state = self.state(credential.id)
        state.requests += 1
        if error is None:
            state.cooling_until, state.reason, state.outcome, state.failures = 0.0, "", None, 0
            return
        state.errors += 1
        rule = COOLDOWNS.get(error.outcome)
        if rule is None or credential.disable_cooling:
            return
        scope, base, exponential = rule
        seconds = error.retry_after if error.retry_after is not None and error.outcome in QUOTA_OUTCOMES \
            else min(MAX_BACKOFF, base * (2 ** state.failures if exponential else 1))
        until = self._clock() + seconds
        if scope == "model":
            state.model_blocks[model] = until
            return
        state.failures += 1
        state.cooling_until, state.reason, state.outcome = until, error.message, error.outcome

    def _exhausted(self, candidates: Sequence[Credential], usable: Sequence[Credential], model: str,
                   now: float) -> ProxyError:
        if not candidates:
            return no_accounts()
        if not usable:
            names = ", ".join(self.current(c).name for c in candidates)
            return ProxyError(503, f"No usable account: {names} need attention (disabled or "
                              "needs `cliproxy login` again).", code="auth_unavailable",
                              type="server_error", outcome=Outcome.UNAUTHORIZED)
        waits = [self._blocked_until(c, model, now) for c in usable]
        first = min(waits)
        retry = max(1.0, first - now)
        when = datetime.fromtimestamp(first, UTC).strftime("%H:%M:%S UTC")
        return ProxyError(429, f"All {len(usable)} account(s) are cooling down for model {model}; "
                          f"the first is available again at {when} (in {int(retry)} s).",
                          code="rate_limit_exceeded", type="rate_limit_error",
                          outcome=Outcome.RATE_LIMITED, retry_after=retry,
                          extra={"resets_in_seconds": int(retry), "resets_at": int(first)})


def no_accounts() -> ProxyError:
    """Nothing to send with: tell the user the one command that fixes it."""
    return ProxyError(503, "No account is configured. Run `cliproxy login` to add a ChatGPT account.",
                      code="auth_not_found", type="server_error", outcome=Outcome.UNAUTHORIZED)
