"""What the pool shows: the status rows, the reasons nothing can be picked, the pool as one account.

Each view is computed from ``(credential, AccountState)`` pairs the pool hands over, so the words a
user reads in ``/status``, in the management API and in an aggregated 503 are written once, here,
and the pool itself only decides and records.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from typing import Any

from cliproxy.credential import Credential
from cliproxy.errors import Blame, Outcome
from cliproxy.pool.cooldown import NEEDS_USER, AccountState
from cliproxy.pool.quota_view import PoolQuota, pool_quota
from cliproxy.pool.shortage import ACCOUNT_REST, QUOTA, TRANSIENT_REST, Rest, Shortage

# (credential, its state, when it can serve the model asked for: 0 = now, NEEDS_USER = never alone)
Row = tuple[Credential, AccountState, float]

__all__ = ["Row", "account_view", "describe", "pool_view", "shortage"]


def pool_view(accounts: Iterable[tuple[Credential, AccountState]], now: float) -> PoolQuota:
    """All usable accounts as one: ``allowed`` while any can serve without a quota reset."""
    usable = [(c, s) for c, s in accounts if c.usable and s.outcome is not Outcome.UNAUTHORIZED]
    allowed = any(not s.quota.blocked_until(now) and s.outcome is not Outcome.NO_QUOTA for _, s in usable)
    return pool_quota(((s.quota, c.plan) for c, s in usable), allowed, now)


def account_view(credential: Credential, state: AccountState, now: float) -> PoolQuota:
    """One account shown as Codex CLI expects (``quota.client-view: routed``)."""
    allowed = credential.usable and not state.quota.blocked_until(now) and state.outcome not in (
        Outcome.NO_QUOTA, Outcome.UNAUTHORIZED)
    return pool_quota([(state.quota, credential.plan)], allowed, now)


def shortage(rows: Iterable[Row], model: str, exclude: Container[str], now: float, plan: str,
             name: Callable[[Credential], str]) -> Shortage:
    """Why no candidate can serve ``model`` now: who needs the user, who rests until when and whose
    fault that was, who was tried. Accounts are named by ``name`` (never an e-mail)."""
    rows = list(rows)
    found = Shortage(model=model, accounts=len(rows), now=now, plan=plan)
    for credential, state, until in rows:
        if until == NEEDS_USER:
            found.needs_user.append((name(credential), _needs_user_reason(credential)))
            found.disabled += credential.disabled
            found.api_keys += credential.kind == "api-key"
        elif until:
            found.cooling.append(Rest(until, name(credential), _cooling_reason(state, model, now), _kind(state, now)))
        elif credential.id in exclude:
            found.tried += 1
    return found


def _kind(state: AccountState, now: float) -> str:
    """Whose rest it is, in the words of the blame table: a spent quota, the account's, the upstream's."""
    if state.quota.blocked_until(now) or state.outcome in (Outcome.QUOTA_EXHAUSTED, Outcome.NO_QUOTA):
        return QUOTA
    if state.blame is Blame.UPSTREAM and state.cooling_until > now:
        return TRANSIENT_REST
    return ACCOUNT_REST


def describe(row: Row, now: float, sessions: int, public_name: str) -> dict[str, Any]:
    """One account's status as plain data (never a token): for status and management.
    ``public_name`` is how errors sent to clients name the account (``account #2``)."""
    credential, state, until = row
    return {
        "id": credential.id, "name": credential.name, "public_name": public_name, "email": credential.email,
        "kind": credential.kind,
        "plan": state.quota.plan or credential.plan, "priority": credential.priority,
        "weight": credential.weight, "state": _state_name(row, now),
        "reason": state.reason if until else "", "until": None if until in (0.0, NEEDS_USER) else until,
        "rest": _kind(state, now) if until not in (0.0, NEEDS_USER) else "",  # whose fault the rest is
        "model_blocks": {m: t for m, t in state.model_blocks.items() if t > now},
        "windows": {kind: {"used_percent": w.used_at(now), "window_minutes": w.window_minutes,
                           "reset_at": w.reset_at or None}
                    for kind, w in state.quota.windows().items()},
        "requests": state.requests, "errors": state.errors, "last_used_at": state.last_used_at or None,
        "last_status": state.last_status or None, "sessions": sessions,
    }


def _state_name(row: Row, now: float) -> str:
    credential, state, until = row
    if credential.disabled:
        return "disabled"
    if until == NEEDS_USER:
        return "needs-login"
    if not until:
        return "available"
    return "quota" if state.quota.blocked_until(now) or state.outcome in (
        Outcome.QUOTA_EXHAUSTED, Outcome.NO_QUOTA) else "cooling"


def _needs_user_reason(credential: Credential) -> str:
    if credential.disabled:
        return "disabled in its file"
    if credential.kind == "api-key":
        return "the upstream refused this API key: check it in the config"
    if credential.auth_error:
        return f"needs `cliproxy login` again: {credential.auth_error}"
    if not credential.access_token:
        return "no access token: run `cliproxy login`"
    return "unauthorized: run `cliproxy login` again"


def _cooling_reason(state: AccountState, model: str, now: float) -> str:
    if state.cooling_until > now and state.reason:
        return state.reason
    if state.model_blocks.get(model, 0.0) > now:
        return f"model {model} not available to this account"
    if state.quota.blocked_until(now):
        return "usage limit reached (a quota window is at 100 %)"
    return "Cloudflare challenge on this egress"
