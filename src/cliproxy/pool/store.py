"""Where pool state lives between restarts: one small interface, a state file by default.

The pool keeps its state in memory and hands it over as plain data (``Pool.export_state``); a
``PoolStore`` saves and loads that data. The default writes ``<auth-dir>/.state/pool.json``
atomically (temp file, fsync, rename, mode 0600). It sits in a sub-directory on purpose: the
reload watcher looks at the top-level ``*.json`` files of the auth dir only, so the proxy's own
state writes never look like an account change, and ``cliproxy accounts`` never lists them. A
shared store (Redis, PostgreSQL) for several proxy instances implements the same two methods.

``keep`` runs beside the server and saves at most every ``interval`` seconds when something
changed, off the request path (in a worker thread), and once more at shutdown.

The plain data itself is written and read here too (``encode_account``, ``decode_account``): one
account's rests, quota windows and counters, with ``STATE_VERSION`` so that a file from an
incompatible version is ignored rather than misread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson

from cliproxy.auth.store import atomic_write
from cliproxy.credential import Credential
from cliproxy.errors import BLAME, Blame, Outcome
from cliproxy.pool.cooldown import LOGIN_CURES, AccountState
from cliproxy.pool.quota_view import AccountQuota

log = logging.getLogger(__name__)

STATE_DIR = ".state"
POOL_FILE = "pool.json"
SAVE_INTERVAL = 2.0
STATE_VERSION = 1
_OUTCOME_VALUES = frozenset(outcome.value for outcome in Outcome)
_BLAME_BY_NAME = {blame.name.lower(): blame for blame in Blame}


class PoolStore(Protocol):
    """Saves and loads the pool's state as plain data."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any]) -> None: ...

    def describe(self) -> str: ...


class _StateSource(Protocol):
    dirty: bool

    def export_state(self) -> dict[str, Any]: ...


def state_dir(auth_dir: Path) -> Path:
    """``<auth-dir>/.state``: the proxy's own files, out of the reload watcher's sight."""
    return auth_dir / STATE_DIR


def ensure_private_dir(path: Path) -> Path:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
    return path


class FilePoolStore:
    """The state file, written whole and atomically; an unreadable file is ignored, not fatal."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_auth_dir(cls, auth_dir: Path) -> FilePoolStore:
        return cls(state_dir(auth_dir) / POOL_FILE)

    def load(self) -> dict[str, Any] | None:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("ignoring pool state file %s: %s", self.path, exc)
            return None
        return data if isinstance(data, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        ensure_private_dir(self.path.parent)
        atomic_write(self.path, orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS))

    def describe(self) -> str:
        return str(self.path)

    def age(self) -> float | None:
        """Seconds since the file was written, None when there is none."""
        try:
            return max(0.0, time.time() - self.path.stat().st_mtime)
        except OSError:
            return None


async def save_now(source: _StateSource, store: PoolStore) -> None:
    """Export on the loop (consistent), write in a thread (no disk I/O on the request path)."""
    state = source.export_state()
    try:
        await asyncio.to_thread(store.save, state)
    except OSError as exc:
        source.dirty = True
        log.warning("could not save pool state to %s: %s", store.describe(), exc)


async def keep(source: _StateSource, store: PoolStore, interval: float = SAVE_INTERVAL) -> None:
    """Save when dirty, every ``interval`` seconds, until cancelled; then save once more."""
    try:
        while True:
            await asyncio.sleep(interval)
            if source.dirty:
                await save_now(source, store)
    finally:
        if source.dirty:
            with contextlib.suppress(OSError):
                store.save(source.export_state())


# ---- the pool's state as plain data ----------------------------------------------------------------

def export_pool(states: Mapping[str, AccountState], latest: Mapping[str, Credential],
                egress: Mapping[str, tuple[float, int]], now: float) -> dict[str, Any]:
    """The state file's content: every account's rests, windows and counters, and resting egresses."""
    return {"version": STATE_VERSION, "saved_at": now,
            "accounts": {cid: encode_account(states.get(cid) or AccountState(), c) for cid, c in latest.items()},
            "egress": {k: [until, strikes] for k, (until, strikes) in egress.items() if until > now}}


def restore_pool(data: Mapping[str, Any], latest: Mapping[str, Credential],
                 now: float) -> tuple[dict[str, AccountState], dict[str, tuple[float, int]]]:
    """The states of accounts still present and the egress rests still running; nothing from a file
    of another version."""
    if data.get("version") != STATE_VERSION:
        return {}, {}
    states = {cid: decode_account(raw, latest[cid], now)
              for cid, raw in (data.get("accounts") or {}).items() if cid in latest and isinstance(raw, dict)}
    egress = {str(k): (float(until), int(strikes))
              for k, (until, strikes) in (data.get("egress") or {}).items() if float(until) > now}
    return states, egress


# ---- one account's state as plain data -----------------------------------------------------------

def encode_account(state: AccountState, credential: Credential) -> dict[str, Any]:
    """What survives a restart of one account: rests, quota windows, counters (never a token)."""
    return {"cooling_until": _encode_time(state.cooling_until), "reason": state.reason,
            "outcome": state.outcome.value if state.outcome else None, "strikes": state.strikes,
            "blame": state.blame.name.lower() if state.blame else None,
            "model_blocks": state.model_blocks, "quota": state.quota.to_dict(),
            "requests": state.requests, "errors": state.errors, "last_used_at": state.last_used_at,
            "last_status": state.last_status, "credential": _fingerprint(credential)}


def decode_account(raw: Mapping[str, Any], credential: Credential, now: float) -> AccountState:
    """One account's saved state; a rest a login cures is dropped when the credential file changed
    since, and a rest that ended while the proxy was down is over, strikes and all."""
    outcome = raw.get("outcome")
    state = AccountState(
        cooling_until=_decode_time(raw.get("cooling_until")), reason=str(raw.get("reason") or ""),
        outcome=Outcome(outcome) if outcome in _OUTCOME_VALUES else None,
        strikes=int(raw.get("strikes") or 0),
        model_blocks={str(m): float(t) for m, t in (raw.get("model_blocks") or {}).items() if float(t) > now},
        quota=AccountQuota.from_dict(raw.get("quota") or {}), requests=int(raw.get("requests") or 0),
        errors=int(raw.get("errors") or 0), last_used_at=float(raw.get("last_used_at") or 0),
        last_status=int(raw.get("last_status") or 0))
    state.blame = _BLAME_BY_NAME.get(str(raw.get("blame"))) or (BLAME[state.outcome] if state.outcome else None)
    if state.outcome in LOGIN_CURES and raw.get("credential") != _fingerprint(credential):
        state.clear()  # the file has a new token: what a login cures is over
    if state.cooling_until <= now:
        state.clear()  # the rest ended while the proxy was down (one that waits for the user never ends)
    return state


def _encode_time(value: float) -> float:
    """JSON has no infinity: a rest until the user acts is written as -1."""
    return -1.0 if value == math.inf else value


def _decode_time(value: Any) -> float:
    number = float(value or 0)
    return math.inf if number < 0 else number


def _fingerprint(credential: Credential) -> list[float | None]:
    """Tells a changed credential file from the same one without touching a secret."""
    return [credential.expires_at, credential.last_refresh_at]
