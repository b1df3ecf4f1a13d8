"""How a resting account comes back, and how the pool names accounts to the people it tells.

An account returns at its reset time (nothing to do: ``blocked_until`` lets it pass), on its first
success (``pool/cooldown.on_success``), when a fresh quota read shows headroom (``Pool.observe_usage``),
when a new token appears in its file (a re-login, an import, another process's refresh: every rest a
login can cure ends), or when the user resets it (``cliproxy accounts reset``, the management API).
Each return is logged once, with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cliproxy.credential import Credential
from cliproxy.pool.cooldown import LOGIN_CURES, AccountState

log = logging.getLogger(__name__)

__all__ = ["Recovery"]


class Recovery:
    """The part of ``Pool`` that ends rests; it works on the pool's own accounts and states."""

    _latest: dict[str, Credential]
    _states: dict[str, AccountState]
    _clock: Callable[[], float]
    _places: dict[str, int] | None = None  # account id → its place in the pool, sorted by id
    on_change: Callable[[str], None] | None = None  # told when an account's state changed (pool/shared.py)

    def _changed(self, cid: str, now: float | None = None) -> None:
        raise NotImplementedError

    def blocked_until(self, credential: Credential, model: str, now: float) -> float:
        raise NotImplementedError

    def _alone(self, credential: Credential, model: str, now: float, egress_wide: bool = False) -> bool:
        """No other account could take this one's place now (a transient failure never rests it).
        ``egress_wide``: the rest would take every account behind the same egress, so only accounts
        behind another one count."""
        return not any(other.id != credential.id and not self.blocked_until(other, model, now)
                       and not (egress_wide and other.proxy_url == credential.proxy_url)
                       for other in self._latest.values())

    def _back(self, credential: Credential, why: str, now: float) -> None:
        """An account returns to rotation: one log line saying why, and the selectors re-place it."""
        log.info("%s is back in rotation: %s", self.public_name(credential), why)
        self._changed(credential.id, now)

    def reset(self, credential_id: str) -> bool:
        """The user ends an account's rest by hand; False when it was not resting."""
        credential, state = self._latest.get(credential_id), self._states.get(credential_id)
        if credential is None or state is None or not (state.resting or state.model_blocks):
            return False
        state.clear()
        state.model_blocks.clear()
        self._back(credential, "reset by the user", self._clock())
        if self.on_change is not None:
            self.on_change(credential_id)
        return True

    def public_name(self, credential: Credential) -> str:
        """How messages to clients and log lines name an account: its label, else its place in the
        pool (``account #2``, as ``cliproxy status`` numbers them), never its e-mail."""
        if credential.label and "@" not in credential.label:
            return credential.label
        if self._places is None or len(self._places) != len(self._latest):  # accounts came or went
            self._places = {cid: place for place, cid in enumerate(sorted(self._latest), 1)}
        place = self._places.get(credential.id)
        return f"account #{place}" if place is not None else "an account"

    def _token_changed(self, old: Credential | None, new: Credential) -> None:
        """A new token in the account file (a re-login, an import, a refresh) ends every rest a
        login can cure; a quota rest stays, since the quota is the same account's."""
        state = self._states.get(new.id)
        if old is None or state is None or old.access_token == new.access_token:
            return
        if state.outcome in LOGIN_CURES:
            why = f"its token changed (was: {state.reason})"
            state.clear()
            self._back(new, why, self._clock())
