"""Credentials in memory with their state: which one serves the next request, and which rest.

The pool decides, the upstream client executes: the runner asks ``pick`` for an account, sends,
and reports the outcome with ``record``; quota signals arrive with ``observe_headers`` and
``observe_event``. Outcomes become state through one table, ``COOLDOWNS`` (issue 6; it replaces
CPA's per-model table of proxy.md §5.4):

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

A success clears the account's state at once. Selection goes through one ``Selector`` per
(model, candidate set), so a pick costs O(log n) however many accounts there are.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Container, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cliproxy.config.schema import Config, normalise_strategy
from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.pool.affinity import Affinity, parse_duration
from cliproxy.pool.quota import (
    LONG,
    SHORT,
    AccountQuota,
    PoolQuota,
    Report,
    parse_event,
    parse_headers,
    parse_usage,
    pool_quota,
)
from cliproxy.pool.selection import Placement, Selector
from cliproxy.pool.shortage import TRANSIENT, Exhausted, Shortage, no_accounts
from cliproxy.pool.store import PoolStore

Clock = Callable[[], float]
NEEDS_USER = math.inf
MAX_BACKOFF = 30 * 60.0
MAX_SELECTORS = 256
VIEW_MAX_AGE = 1.0  # a large pool's view on the request path is recomputed at most this often
SMALL_POOL = 64  # up to this many accounts the view is recomputed whenever something changed
STATE_VERSION = 1
# prefer-earlier-reset buckets: resets within the same hour (5 h window) or day (weekly) tie, so
# the strategy still spreads load among them.
TIER_STEP = {SHORT: 3600.0, LONG: 86400.0}
_OUTCOME_VALUES = frozenset(outcome.value for outcome in Outcome)

__all__ = ["COOLDOWNS", "AccountState", "Exhausted", "Pool", "Rule", "no_accounts"]


@dataclass(frozen=True)
class Rule:
    """How long an outcome keeps an account (or model, or egress) out of rotation."""

    scope: str  # "account" | "model" | "egress"
    seconds: float  # fixed time, or the first step of an exponential backoff
    exponential: bool = False
    upstream_time: bool = False  # the upstream's resets_at / Retry-After wins when given
    label: str = ""


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


def _encode_time(value: float) -> float:
    return -1.0 if value == math.inf else value


def _decode_time(value: Any) -> float:
    number = float(value or 0)
    return math.inf if number < 0 else number


def _fingerprint(credential: Credential) -> list[float | None]:
    """Tells a changed credential file from the same one without touching a secret."""
    return [credential.expires_at, credential.last_refresh_at]


class Pool:
    """All credentials with their state; selection by strategy within the highest priority group."""

    def __init__(self, credentials: Sequence[Credential], strategy: str = "round-robin", *,
                 clock: Clock = time.time, session_affinity: bool = True, affinity_ttl: float = 3600.0,
                 disable_cooling: bool = False, prefer_earlier_reset: str = "off") -> None:
        self._clock = clock
        self._strategy = normalise_strategy(strategy)
        self._prefer = prefer_earlier_reset
        self._affinity_on = session_affinity
        self._affinity = Affinity(affinity_ttl)
        self._no_cooling = disable_cooling
        self._latest: dict[str, Credential] = {}
        self._states: dict[str, AccountState] = {}
        self._egress: dict[str, tuple[float, int]] = {}
        self._selectors: OrderedDict[Hashable, Selector] = OrderedDict()
        self._view: tuple[float, int, PoolQuota] | None = None
        self._version = 0  # bumped whenever anything the pool view shows changed
        self.store: PoolStore | None = None
        self.dirty = False
        self.update(credentials)

    @classmethod
    def from_config(cls, credentials: Sequence[Credential], config: Config, clock: Clock = time.time) -> Pool:
        pool = cls(credentials, clock=clock, prefer_earlier_reset=config.routing.prefer_earlier_reset)
        pool.configure(config)
        return pool

    def attach(self, store: PoolStore) -> None:
        """Take back what ``store`` kept from the last run; ``pool_store.keep`` saves into it."""
        self.store = store
        data = store.load()
        if data:
            self.restore(data)

    # ---- configuration and credentials -------------------------------------------------------

    @property
    def strategy(self) -> str:
        return self._strategy

    def configure(self, config: Config) -> None:
        """Routing settings of a (re)loaded config; accounts' state is kept."""
        strategy = normalise_strategy(config.routing.strategy)
        if strategy != self._strategy:
            self._strategy = strategy
            self._selectors.clear()
        self._affinity_on = config.routing.session_affinity
        self._affinity.ttl = parse_duration(config.routing.session_affinity_ttl)
        if config.disable_cooling != self._no_cooling:
            self._no_cooling = config.disable_cooling
            self._selectors.clear()
        if config.routing.prefer_earlier_reset != self._prefer:
            self._prefer = config.routing.prefer_earlier_reset
            self._selectors.clear()

    def update(self, credentials: Sequence[Credential], strategy: str | None = None) -> None:
        """A reload: new files replace old ones; state of accounts that stay is kept, except that a
        401 ends when the credential changed."""
        latest = {c.id: c for c in credentials}
        for cid, credential in latest.items():
            old, state = self._latest.get(cid), self._states.get(cid)
            if state and old and state.outcome is Outcome.UNAUTHORIZED and (
                    old.access_token != credential.access_token):
                state.clear()
        removed = set(self._latest) - set(latest)
        self._latest = latest
        self._states = {cid: self._states.get(cid) or AccountState() for cid in latest}
        if removed:
            self._affinity.forget(removed)
        if strategy:
            self._strategy = normalise_strategy(strategy)
        self._selectors.clear()
        self.dirty = True

    def replace(self, credential: Credential) -> None:
        """A refreshed token (or a failed refresh that marked the file): it serves from the next pick
        on; a new token ends a 401 cooldown."""
        old = self._latest.get(credential.id)
        self._latest[credential.id] = credential
        state = self._states.setdefault(credential.id, AccountState())
        if state.outcome is Outcome.UNAUTHORIZED and (old is None or old.access_token != credential.access_token):
            state.clear()
        self._changed(credential.id)

    def current(self, credential: Credential) -> Credential:
        return self._latest.get(credential.id, credential)

    def credentials(self) -> list[Credential]:
        """Every credential as last known (refreshed tokens included)."""
        return list(self._latest.values())

    def state(self, credential_id: str) -> AccountState:
        return self._states.setdefault(credential_id, AccountState())

    # ---- selection ---------------------------------------------------------------------------

    def _egress_of(self, credential: Credential) -> str:
        return credential.proxy_url

    def _cooling_off(self, credential: Credential) -> bool:
        return self._no_cooling or credential.disable_cooling

    def blocked_until(self, credential: Credential, model: str, now: float) -> float:
        """When this account can serve ``model`` again: 0 = now, ``inf`` = only after the user acts."""
        if not credential.usable:
            return NEEDS_USER
        if self._cooling_off(credential):
            return 0.0
        state = self.state(credential.id)
        quota = state.quota
        until = max(state.cooling_until, state.model_blocks.get(model, 0.0), quota.blocked_until(now),
                    quota.model_blocked_until(model, now), self._egress.get(self._egress_of(credential), (0.0, 0))[0])
        return until if until > now else 0.0

    @property
    def _quota_orders(self) -> bool:
        """Whether quota observations change an account's place in a selector, not only blocks."""
        return self._strategy == "headroom" or self._prefer != "off"

    def _placement(self, model: str) -> Callable[[str, float], Placement]:
        headroom, prefer = self._strategy == "headroom", self._prefer != "off"

        def status(cid: str, now: float) -> Placement:
            credential = self._latest[cid]
            until = self.blocked_until(credential, model, now)
            if not (headroom or prefer):
                return Placement(until)
            quota = self.state(cid).quota
            left, reset = quota.headroom(now) if headroom else (100.0, math.inf)
            tier = self._tier(quota, now) if prefer else 0.0
            return Placement(until, quota.next_change(now), left, reset, tier)

        return status

    def _tier(self, quota: AccountQuota, now: float) -> float:
        """prefer-earlier-reset: the preferred window's reset, bucketed (else the other window's).
        An account without a known reset comes first, as in codex-lb: it is tried, learnt and
        placed, instead of never being used."""
        windows = quota.windows()
        for kind in ((SHORT, LONG) if self._prefer == "short" else (LONG, SHORT)):
            window = windows.get(kind)
            if window is not None and window.reset_at > now:
                return window.reset_at - window.reset_at % TIER_STEP[kind]
        return 0.0

    def _selector(self, candidates: Sequence[Credential], model: str, key: Hashable | None,
                  now: float) -> Selector:
        cache_key = (model, key) if key is not None else (model, tuple(c.id for c in candidates))
        selector = self._selectors.get(cache_key)
        if selector is None:
            for credential in candidates:  # a snapshot's credentials the pool was not told about yet
                if credential.id not in self._latest:
                    self._latest[credential.id] = credential
                    self._states.setdefault(credential.id, AccountState())
            members = [(c.id, self.current(c).priority, self.current(c).weight) for c in candidates]
            selector = Selector(members, self._strategy, self._placement(model), now)
            self._selectors[cache_key] = selector
            if len(self._selectors) > MAX_SELECTORS:
                self._selectors.popitem(last=False)
        return selector

    def pick(self, candidates: Sequence[Credential], *, model: str, exclude: Container[str] = (),
             session: str | None = None, key: Hashable | None = None) -> Credential:
        """The account to try next; ``Exhausted`` (with the reasons) when there is none.

        ``key`` names the candidate set (the route's registry entry) so its selector is reused
        without looking at every candidate; without it the candidates' ids are the key.
        ``session`` keeps a conversation on the account that has its prompt cache.
        """
        now = self._clock()
        selector = self._selector(candidates, model, key, now)
        bound = self._affinity.get(session, model, now) if session and self._affinity_on else None
        if bound is not None and bound not in exclude and bound in selector and selector.is_ready(bound, now):
            self._affinity.bind(session or "", model, bound, now)
            return self._latest[bound]
        chosen = selector.pick(now, exclude)
        if chosen is None:
            raise Exhausted(self._shortage(candidates, model, exclude, now))
        if session and self._affinity_on and (bound is None or self._binding_moves(bound, selector)):
            self._affinity.bind(session, model, chosen, now)
        return self._latest[chosen]

    def _binding_moves(self, bound: str, selector: Selector) -> bool:
        """A session leaves its account when that account cools down or is gone, not for a blip."""
        if bound not in selector or bound not in self._latest or not self._latest[bound].usable:
            return True
        return self.state(bound).outcome not in TRANSIENT

    def session_account(self, session: str, model: str) -> str | None:
        return self._affinity.get(session, model, self._clock())

    def session_credential(self, sessions: Sequence[str]) -> Credential | None:
        """The account the first of ``sessions`` that has a binding is bound to, for any model."""
        now = self._clock()
        for session in sessions:
            cid = self._affinity.latest(session, now)
            if cid is not None and cid in self._latest:
                return self._latest[cid]
        return None

    # ---- outcomes ----------------------------------------------------------------------------

    def record(self, credential: Credential, model: str, error: ProxyError | None) -> None:
        """Turn an attempt's outcome into state: success clears, failure applies ``COOLDOWNS``."""
        now = self._clock()
        state = self.state(credential.id)
        state.requests += 1
        state.last_used_at = now
        self.dirty = True
        if error is None:
            if state.outcome is not None or state.cooling_until or state.quota.limit_until:
                state.clear()
                self._changed(credential.id, now)
            state.last_status = 200
            return
        state.errors += 1
        state.last_status = error.status
        rule = COOLDOWNS.get(error.outcome)
        if rule is None or self._cooling_off(credential):
            return
        state.strikes = state.strikes + 1 if state.outcome is error.outcome else 1
        seconds = self._seconds(rule, error, state.strikes)
        if rule.scope == "egress":
            self._cool_egress(credential, rule, now)
        elif rule.scope == "model":
            state.model_blocks[model] = now + seconds
        else:
            state.cooling_until = now + seconds
            if error.outcome is Outcome.QUOTA_EXHAUSTED:
                state.quota.limit_reached(now + seconds, str(error.extra.get("plan_type") or ""), now)
        state.outcome, state.reason = error.outcome, _reason(rule, error)
        self._changed(credential.id, now)

    @staticmethod
    def _seconds(rule: Rule, error: ProxyError, strikes: int) -> float:
        if rule.upstream_time and error.retry_after is not None and error.retry_after > 0:
            return error.retry_after
        if rule.exponential:
            return min(MAX_BACKOFF, rule.seconds * 2.0 ** (strikes - 1))
        return rule.seconds

    def _cool_egress(self, credential: Credential, rule: Rule, now: float) -> None:
        egress = self._egress_of(credential)
        until, strikes = self._egress.get(egress, (0.0, 0))
        strikes = strikes + 1 if until > now - MAX_BACKOFF else 1
        self._egress[egress] = (now + min(MAX_BACKOFF, rule.seconds * 2.0 ** (strikes - 1)), strikes)
        for cid, other in self._latest.items():
            if self._egress_of(other) == egress:
                self._changed(cid, now)

    def observe_headers(self, credential: Credential, headers: Mapping[str, str]) -> None:
        """The ``x-codex-*`` headers of a response from this account."""
        now = self._clock()
        report = parse_headers(headers, now)
        if report is not None:
            self._observe(credential.id, report, now)

    def observe_event(self, credential: Credential, event: Mapping[str, Any]) -> None:
        """A ``codex.rate_limits`` event from this account's stream."""
        now = self._clock()
        report = parse_event(event, now)
        if report is not None:
            self._observe(credential.id, report, now)

    def observe_usage(self, credential: Credential, body: Any) -> bool:
        """A ``GET …/wham/usage`` answer read for this account (the poll); False if unreadable."""
        now = self._clock()
        report = parse_usage(body, now)
        if report is None:
            return False
        self._observe(credential.id, report, now)
        return True

    def _observe(self, cid: str, report: Report, now: float) -> None:
        quota = self.state(cid).quota
        before = quota.blocked_until(now)
        quota.apply(report, now)
        self.dirty = True
        self._version += 1
        if self._quota_orders or quota.blocked_until(now) != before:
            self._changed(cid, now)

    def _changed(self, cid: str, now: float | None = None) -> None:
        """Re-place an account in every selector that holds it."""
        self._version += 1
        when = self._clock() if now is None else now
        for selector in self._selectors.values():
            if cid in selector:
                selector.refresh(cid, when)
        self.dirty = True

    # ---- why nothing can be picked -----------------------------------------------------------

    def _shortage(self, candidates: Sequence[Credential], model: str, exclude: Container[str],
                  now: float) -> Shortage:
        shortage = Shortage(model=model, accounts=len(candidates), now=now, plan=self.quota_view(now).plan)
        for candidate in candidates:
            credential = self.current(candidate)
            until = self.blocked_until(credential, model, now)
            if until == NEEDS_USER:
                shortage.needs_user.append((credential.name, self._needs_user_reason(credential)))
            elif until:
                shortage.cooling.append((until, credential.name, self._cooling_reason(credential, model, now)))
            elif credential.id in exclude:
                shortage.tried += 1
        return shortage

    def _needs_user_reason(self, credential: Credential) -> str:
        if credential.disabled:
            return "disabled in its file"
        if credential.auth_error:
            return f"needs `cliproxy login` again: {credential.auth_error}"
        if not credential.access_token:
            return "no access token: run `cliproxy login`"
        return "unauthorized: run `cliproxy login` again"

    def _cooling_reason(self, credential: Credential, model: str, now: float) -> str:
        state = self.state(credential.id)
        if state.cooling_until > now and state.reason:
            return state.reason
        if state.model_blocks.get(model, 0.0) > now:
            return f"model {model} not available to this account"
        if state.quota.blocked_until(now):
            return "usage limit reached (a quota window is at 100 %)"
        return "Cloudflare challenge on this egress"

    # ---- the pool as Codex CLI sees it -------------------------------------------------------

    def recent_view(self) -> PoolQuota:
        """The pool view for the request path. A large pool's is at most ``VIEW_MAX_AGE`` old, so a
        request never pays for walking a thousand accounts; a small pool's is always current."""
        now = self._clock()
        view = self._view
        if view is None or (view[1] != self._version and (
                len(self._latest) <= SMALL_POOL or now - view[0] >= VIEW_MAX_AGE)) or now - view[0] >= 60:
            view = self._view = (now, self._version, self.quota_view(now))
        return view[2]

    def quota_view(self, now: float | None = None) -> PoolQuota:
        """All usable accounts as one: ``allowed`` while any can serve without a quota reset."""
        when = self._clock() if now is None else now
        usable = [c for c in self._latest.values() if c.usable and self.state(c.id).outcome is not Outcome.UNAUTHORIZED]
        allowed = any(not self.state(c.id).quota.blocked_until(when)
                      and self.state(c.id).outcome is not Outcome.NO_QUOTA for c in usable)
        return pool_quota(((self.state(c.id).quota, c.plan) for c in usable), allowed, when)

    def account_view(self, credential: Credential, now: float | None = None) -> PoolQuota:
        """One account shown as Codex CLI expects (``quota.client-view: routed``)."""
        when = self._clock() if now is None else now
        credential = self.current(credential)
        state = self.state(credential.id)
        allowed = credential.usable and not state.quota.blocked_until(when) and state.outcome not in (
            Outcome.NO_QUOTA, Outcome.UNAUTHORIZED)
        return pool_quota([(state.quota, credential.plan)], allowed, when)

    # ---- plain data for status, management and the state file ----------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every account's state as plain data (never a token): for status and management."""
        now = self._clock()
        sessions = self._affinity.counts()
        return {"now": now, "strategy": self._strategy, "session_affinity": self._affinity_on,
                "sessions": len(self._affinity),
                "accounts": [self._describe(c, now, sessions.get(c.id, 0)) for c in self._latest.values()],
                "quota": self.quota_view(now).usage_body(now)}

    def _describe(self, credential: Credential, now: float, sessions: int) -> dict[str, Any]:
        state = self.state(credential.id)
        until = self.blocked_until(credential, "", now)
        return {
            "id": credential.id, "name": credential.name, "email": credential.email, "kind": credential.kind,
            "plan": state.quota.plan or credential.plan, "priority": credential.priority,
            "weight": credential.weight, "state": self._state_name(credential, until, now),
            "reason": state.reason if until else "", "until": None if until in (0.0, NEEDS_USER) else until,
            "model_blocks": {m: t for m, t in state.model_blocks.items() if t > now},
            "windows": {kind: {"used_percent": w.used_at(now), "window_minutes": w.window_minutes,
                               "reset_at": w.reset_at or None}
                        for kind, w in state.quota.windows().items()},
            "requests": state.requests, "errors": state.errors, "last_used_at": state.last_used_at or None,
            "last_status": state.last_status or None, "sessions": sessions,
        }

    def _state_name(self, credential: Credential, until: float, now: float) -> str:
        if credential.disabled:
            return "disabled"
        if until == NEEDS_USER:
            return "needs-login"
        if not until:
            return "available"
        state = self.state(credential.id)
        return "quota" if state.quota.blocked_until(now) or state.outcome in (
            Outcome.QUOTA_EXHAUSTED, Outcome.NO_QUOTA) else "cooling"

    def export_state(self) -> dict[str, Any]:
        """What survives a restart: cooldowns, quota windows, counters (the state file's content)."""
        now = self._clock()
        self.dirty = False
        return {"version": STATE_VERSION, "saved_at": now,
                "accounts": {cid: self._export_account(cid) for cid in self._latest},
                "egress": {k: [until, strikes] for k, (until, strikes) in self._egress.items() if until > now}}

    def _export_account(self, cid: str) -> dict[str, Any]:
        state = self.state(cid)
        return {"cooling_until": _encode_time(state.cooling_until), "reason": state.reason,
                "outcome": state.outcome.value if state.outcome else None, "strikes": state.strikes,
                "model_blocks": state.model_blocks, "quota": state.quota.to_dict(),
                "requests": state.requests, "errors": state.errors, "last_used_at": state.last_used_at,
                "last_status": state.last_status, "credential": _fingerprint(self._latest[cid])}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Load a state file's content: accounts still present keep their cooldowns and windows;
        a 401 is dropped when the credential file changed since."""
        if data.get("version") != STATE_VERSION:
            return
        now = self._clock()
        for cid, raw in (data.get("accounts") or {}).items():
            if cid in self._latest and isinstance(raw, dict):
                self._states[cid] = self._restore_account(raw, self._latest[cid], now)
        for egress, (until, strikes) in (data.get("egress") or {}).items():
            if float(until) > now:
                self._egress[str(egress)] = (float(until), int(strikes))
        self._selectors.clear()

    @staticmethod
    def _restore_account(raw: Mapping[str, Any], credential: Credential, now: float) -> AccountState:
        outcome = raw.get("outcome")
        state = AccountState(
            cooling_until=_decode_time(raw.get("cooling_until")), reason=str(raw.get("reason") or ""),
            outcome=Outcome(outcome) if outcome in _OUTCOME_VALUES else None,
            strikes=int(raw.get("strikes") or 0),
            model_blocks={str(m): float(t) for m, t in (raw.get("model_blocks") or {}).items() if float(t) > now},
            quota=AccountQuota.from_dict(raw.get("quota") or {}), requests=int(raw.get("requests") or 0),
            errors=int(raw.get("errors") or 0), last_used_at=float(raw.get("last_used_at") or 0),
            last_status=int(raw.get("last_status") or 0))
        if state.outcome is Outcome.UNAUTHORIZED and raw.get("credential") != _fingerprint(credential):
            state.clear()
        if state.cooling_until <= now and state.outcome is not Outcome.UNAUTHORIZED:
            state.cooling_until = 0.0
        return state


def _reason(rule: Rule, error: ProxyError) -> str:
    """What the user reads in status and in the aggregated error: the upstream's words when useful."""
    message = error.message.strip()
    if len(message) > 160:
        message = message[:157] + "…"
    return f"{rule.label}: {message}" if message and message.lower() not in rule.label else rule.label
