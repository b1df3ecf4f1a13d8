"""Credentials in memory with their state: which one serves the next request, and which rest.

The pool decides, the upstream client executes: the runner asks ``pick`` for an account, sends,
and reports the outcome with ``record``; quota signals arrive with ``observe_headers``,
``observe_event`` and ``observe_usage``. An outcome becomes a rest through ``COOLDOWNS``
(``pool/cooldown.py``); what the pool shows is written in ``pool/views.py``, and what survives a
restart in ``pool/store.py``.

Selection goes through one ``Selector`` per (model, candidate set), so a pick costs O(log n)
however many accounts there are.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Container, Hashable, Iterable, Mapping, Sequence
from typing import Any

from cliproxy.config.coerce import parse_duration
from cliproxy.config.schema import Config, normalise_strategy
from cliproxy.credential import Credential
from cliproxy.errors import Blame, ProxyError
from cliproxy.pool import views
from cliproxy.pool.affinity import DEFAULT_TTL, Affinity
from cliproxy.pool.cooldown import (
    COOLDOWNS,
    MAX_BACKOFF,
    NEEDS_USER,
    QUOTA_RESTS,
    AccountState,
    Rule,
    on_failure,
    on_success,
)
from cliproxy.pool.quota import Report, has_headroom, parse_event, parse_headers, parse_usage
from cliproxy.pool.quota_view import PoolQuota
from cliproxy.pool.recovery import Recovery
from cliproxy.pool.selection import Placement, Selector, reset_tier
from cliproxy.pool.shortage import TRANSIENT, Exhausted, no_accounts
from cliproxy.pool.store import PoolStore, decode_account, encode_account, export_pool, restore_pool

Clock = Callable[[], float]
MAX_SELECTORS = 256
VIEW_MAX_AGE = 1.0  # a large pool's view on the request path is recomputed at most this often
VIEW_MAX_STALE = 60.0  # and any pool's at least this often (quota windows reset with time alone)
SMALL_POOL = 64  # up to this many accounts the view is recomputed whenever something changed

__all__ = ["COOLDOWNS", "AccountState", "Exhausted", "Pool", "Rule", "no_accounts"]


class Pool(Recovery):
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
        # Told of every account-state change at attempt end and of every new session binding, so
        # other instances can learn them (pool/shared.py); None with one instance.
        self.on_change = None
        self.on_bind: Callable[[str, str, str], None] | None = None
        # Told of every round-robin pick by model, so the position can be shared (pool/shared.py).
        self.on_turn: Callable[[str], None] | None = None
        self.update(credentials)

    @classmethod
    def from_config(cls, credentials: Sequence[Credential], config: Config, clock: Clock = time.time) -> Pool:
        pool = cls(credentials, clock=clock, prefer_earlier_reset=config.routing.prefer_earlier_reset)
        pool.configure(config)
        return pool

    def attach(self, store: PoolStore) -> None:
        """Take back what ``store`` kept from the last run; ``pool/store.keep`` saves into it."""
        self.store = store
        data = store.load()
        if data:
            self.restore(data)

    # ---- configuration and credentials -------------------------------------------------------

    @property
    def strategy(self) -> str:
        return self._strategy

    @property
    def affinity_ttl(self) -> float:
        return self._affinity.ttl

    @property
    def affinity_limit(self) -> int:
        return self._affinity.limit

    def configure(self, config: Config) -> None:
        """Routing settings of a (re)loaded config; accounts' state is kept."""
        strategy = normalise_strategy(config.routing.strategy)
        if strategy != self._strategy:
            self._strategy = strategy
            self._selectors.clear()
        self._affinity_on = config.routing.session_affinity
        ttl = parse_duration(config.routing.session_affinity_ttl)
        self._affinity.ttl = DEFAULT_TTL if ttl is None else ttl
        if config.disable_cooling != self._no_cooling:
            self._no_cooling = config.disable_cooling
            self._selectors.clear()
        if config.routing.prefer_earlier_reset != self._prefer:
            self._prefer = config.routing.prefer_earlier_reset
            self._selectors.clear()

    def update(self, credentials: Sequence[Credential], strategy: str | None = None) -> None:
        """A reload: new files replace old ones; state of accounts that stay is kept, except the rests
        a new token cures."""
        latest = {c.id: c for c in credentials}
        for credential in latest.values():
            self._token_changed(self._latest.get(credential.id), credential)
        removed = set(self._latest) - set(latest)
        self._latest = latest
        self._places = None  # public names follow the new set of accounts
        self._states = {cid: self._states.get(cid) or AccountState() for cid in latest}
        if removed:
            self._affinity.forget(removed)
        if strategy:
            self._strategy = normalise_strategy(strategy)
        self._selectors.clear()
        self.dirty = True

    def replace(self, credential: Credential) -> None:
        """A refreshed token (or a failed refresh that marked the file): it serves from the next pick
        on; a new token ends the rests a login cures."""
        old = self._latest.get(credential.id)
        self._latest[credential.id] = credential
        self._token_changed(old, credential)
        self._changed(credential.id)

    def current(self, credential: Credential) -> Credential:
        return self._latest.get(credential.id, credential)

    def credentials(self) -> list[Credential]:
        """Every credential as last known (refreshed tokens included)."""
        return list(self._latest.values())

    def state(self, credential_id: str) -> AccountState:
        return self._states.setdefault(credential_id, AccountState())

    # ---- selection ---------------------------------------------------------------------------

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
                    quota.model_blocked_until(model, now), self._egress.get(credential.proxy_url, (0.0, 0))[0])
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
            tier = reset_tier(quota.windows(), self._prefer, now) if prefer else 0.0
            return Placement(until, quota.next_change(now), left, reset, tier)

        return status

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
            raise Exhausted(views.shortage(self._rows(candidates, model, now), model, exclude, now,
                                          self.quota_view(now).plan, self.public_name))
        if self.on_turn is not None and self._strategy == "round-robin":
            self.on_turn(model)
        if session and self._affinity_on and (bound is None or self._binding_moves(bound, selector, model, now)):
            self._affinity.bind(session, model, chosen, now)
            if self.on_bind is not None and chosen != bound:
                self.on_bind(session, model, chosen)
        return self._latest[chosen]

    def _binding_moves(self, bound: str, selector: Selector, model: str, now: float) -> bool:
        """A session leaves its account when that account rests for its own reason or is gone, not
        for a blip: an account only tried already in this request, or resting for the upstream's
        transient failures, keeps its sessions."""
        if bound not in selector or bound not in self._latest or not self._latest[bound].usable:
            return True
        if not self.blocked_until(self._latest[bound], model, now):
            return False
        return self.state(bound).outcome not in TRANSIENT

    def adopt_bindings(self, known: Iterable[tuple[str, str, float]]) -> int:
        """Bindings read from the shared store, as (opaque(session, model), credential id, seconds
        left): a session's next turn here goes where another instance bound it. Returns how many."""
        now = self._clock()
        return self._affinity.preload([(key, cid, now + left) for key, cid, left in known if cid in self._latest],
                                      now)

    def follow_turn(self, model: str, position: int) -> None:
        """The shared round-robin position for ``model``: every selector of it continues from there."""
        for key, selector in self._selectors.items():
            if isinstance(key, tuple) and key and key[0] == model:
                selector.follow(position)

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

    def now(self) -> float:
        """The pool's clock: what ``record``'s ``started`` is measured in."""
        return self._clock()

    def record(self, credential: Credential, model: str, error: ProxyError | None, *,
               started: float | None = None) -> None:
        """One upstream attempt's outcome, begun at ``started`` (default: now), as state.

        Only the account's own failures rest it; the upstream's transient ones rest it when they
        repeat; the request's and ours leave it alone (``pool/cooldown.py`` has the rules). The
        state it ends with goes to ``on_change`` (the other instances), at attempt end only.
        """
        self._record(credential, model, error, started)
        if self.on_change is not None and (error is None or error.blame not in (Blame.REQUEST, Blame.OURS)):
            self.on_change(credential.id)

    def _record(self, credential: Credential, model: str, error: ProxyError | None, started: float | None) -> None:
        now = self._clock()
        began = now if started is None else started
        state = self.state(credential.id)
        state.requests += 1
        state.last_used_at = now
        self.dirty = True
        if error is None:
            state.last_status = 200
            why = on_success(state, began)
            if why is not None:
                self._back(credential, f"it answered (was: {why})", now)
            return
        if error.blame in (Blame.REQUEST, Blame.OURS):
            return
        state.errors += 1
        state.last_status = error.status
        if self._cooling_off(credential):
            return
        egress_wide = COOLDOWNS[error.outcome].scope == "egress" if error.outcome in COOLDOWNS else False
        rule = on_failure(state, error, model, began, now, alone=self._alone(credential, model, now, egress_wide))
        if rule is not None and rule.scope == "egress":
            self._cool_egress(credential, rule, now)
        elif rule is not None:
            self._changed(credential.id, now)

    def _cool_egress(self, credential: Credential, rule: Rule, now: float) -> None:
        egress = credential.proxy_url
        until, strikes = self._egress.get(egress, (0.0, 0))
        strikes = strikes + 1 if until > now - MAX_BACKOFF else 1
        self._egress[egress] = (now + rule.step(strikes), strikes)
        for cid, other in self._latest.items():
            if other.proxy_url == egress:
                self._changed(cid, now)

    def observe_headers(self, credential: Credential, headers: Mapping[str, str]) -> None:
        """The ``x-codex-*`` headers of a response from this account."""
        self._observe(credential, parse_headers, headers)

    def observe_event(self, credential: Credential, event: Mapping[str, Any]) -> None:
        """A ``codex.rate_limits`` event from this account's stream."""
        self._observe(credential, parse_event, event)

    def observe_usage(self, credential: Credential, body: Any) -> bool:
        """A ``GET …/wham/usage`` answer read for this account (the poll); False if unreadable.
        A fresh read that shows headroom ends a quota rest at once, before its reset time."""
        return self._observe(credential, parse_usage, body, fresh=True)

    def _observe(self, credential: Credential, parse: Callable[[Any, float], Report | None], raw: Any,
                 fresh: bool = False) -> bool:
        now = self._clock()
        report = parse(raw, now)
        if report is None:
            return False
        state = self.state(credential.id)
        before = state.quota.blocked_until(now)
        state.quota.apply(report, now)
        self.dirty = True
        self._version += 1
        if fresh and state.outcome in QUOTA_RESTS and has_headroom(report, now):
            state.clear()
            self._back(credential, "a fresh quota read shows headroom", now)
        if fresh and self.on_change is not None:
            self.on_change(credential.id)
        elif self._quota_orders or state.quota.blocked_until(now) != before:
            self._changed(credential.id, now)
        return True

    def _changed(self, cid: str, now: float | None = None) -> None:
        """Re-place an account in every selector that holds it."""
        self._version += 1
        when = self._clock() if now is None else now
        for selector in self._selectors.values():
            if cid in selector:
                selector.refresh(cid, when)
        self.dirty = True

    # ---- what the pool shows (pool/views.py writes it) -----------------------------------------

    def _rows(self, credentials: Iterable[Credential], model: str, now: float) -> list[views.Row]:
        current = [self.current(c) for c in credentials]
        return [(c, self.state(c.id), self.blocked_until(c, model, now)) for c in current]

    def recent_view(self) -> PoolQuota:
        """The pool view for the request path. A large pool's is at most ``VIEW_MAX_AGE`` old, so a
        request never pays for walking a thousand accounts; a small pool's is always current."""
        now = self._clock()
        view = self._view
        if view is None or (view[1] != self._version and (
                len(self._latest) <= SMALL_POOL or now - view[0] >= VIEW_MAX_AGE)) or now - view[0] >= VIEW_MAX_STALE:
            view = self._view = (now, self._version, self.quota_view(now))
        return view[2]

    def quota_view(self, now: float | None = None) -> PoolQuota:
        """All usable accounts as one: ``allowed`` while any can serve without a quota reset."""
        when = self._clock() if now is None else now
        return views.pool_view(((c, self.state(c.id)) for c in self._latest.values()), when)

    def account_view(self, credential: Credential, now: float | None = None) -> PoolQuota:
        """One account shown as Codex CLI expects (``quota.client-view: routed``)."""
        credential = self.current(credential)
        return views.account_view(credential, self.state(credential.id), self._clock() if now is None else now)

    def snapshot(self) -> dict[str, Any]:
        """Every account's state as plain data (never a token): for status and management."""
        now = self._clock()
        sessions = self._affinity.counts()
        return {"now": now, "strategy": self._strategy, "session_affinity": self._affinity_on,
                "sessions": len(self._affinity),
                "accounts": [views.describe(row, now, sessions.get(row[0].id, 0), self.public_name(row[0]))
                             for row in self._rows(self._latest.values(), "", now)],
                "quota": self.quota_view(now).usage_body(now)}

    # ---- the state file (pool/store.py encodes it) -----------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """What survives a restart: rests, quota windows, counters (the state file's content)."""
        self.dirty = False
        return export_pool(self._states, self._latest, self._egress, self._clock())

    def export_account(self, cid: str) -> dict[str, Any]:
        """One account's state as the state file writes it, for the other instances."""
        return encode_account(self.state(cid), self._latest[cid])

    def adopt(self, cid: str, raw: Mapping[str, Any]) -> None:
        """Another instance's view of an account: its rests and quota windows replace ours; our own
        counters stay. A rest learnt now counts as begun now, so an attempt already in flight here
        cannot end it with a success (``cooldown.on_success``)."""
        credential = self._latest.get(cid)
        if credential is None:
            return
        now, state = self._clock(), self.state(cid)
        remote = decode_account(raw, credential, now)
        was = state.reason if state.resting else ""
        state.cooling_until, state.reason, state.outcome, state.strikes = (
            remote.cooling_until, remote.reason, remote.outcome, remote.strikes)
        state.model_blocks, state.quota, state.blame = remote.model_blocks, remote.quota, remote.blame
        state.since = now if remote.resting else 0.0
        if was and not remote.resting:
            self._back(credential, f"another instance ended its rest (was: {was})", now)
        else:
            self._changed(cid, now)

    def restore(self, data: Mapping[str, Any]) -> None:
        """Load a state file's content: accounts still present keep what is still true of them."""
        states, egress = restore_pool(data, self._latest, self._clock())
        self._states.update(states)
        self._egress.update(egress)
        self._selectors.clear()
