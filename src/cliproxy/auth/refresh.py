"""Keeping accounts logged in: the refresh of one account, and when an account is due for one.

Refresh tokens rotate and are single-use, so the one thing refresh must never do is spend a token
twice. Three guards, innermost last:

1. single-flight per account and refresh token: concurrent callers in one process share one call;
2. the account's cross-process file lock is held across re-read → refresh call → write, inside the
   shared lease of several instances when they share state (``state.lease``: one holder across hosts;
   with the accounts in Redis, the store's own lock is that lease);
3. after taking the lock the file is re-read, and a refresh token that differs from ours (another
   process refreshed) is adopted without a network call — Codex's guarded reload.

A permanent failure (401, ``refresh_token_expired|reused|invalidated``, ``invalid_grant``) is written
into the file as an ``auth_error`` marker, so the account stays out of rotation across restarts
until a re-login or a changed file; a transient one is retried with backoff (5 min doubling to 1 h)
by the schedule in ``auth.schedule``, which refreshes every account before its token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from cliproxy.auth.credentials import credential_from_record
from cliproxy.auth.errors import RefreshError
from cliproxy.auth.oauth import REQUEST_TIMEOUT, Endpoints, TokenBundle, refresh_tokens
from cliproxy.auth.record import (
    apply_refresh,
    auth_error_message,
    expiry_of,
    last_refresh_of,
    mark_auth_error,
    refresh_interval_of,
)
from cliproxy.auth.store import CredentialStore, StoreError, StoreUnavailable
from cliproxy.auth.stores import credential_store
from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.upstream.egress import chosen_proxy, new_client

log = logging.getLogger(__name__)

MAX_LEAD = 5 * 86400.0
RETRY_DELAYS = (1.0, 2.0)  # CPA: 3 attempts, waiting 1 s then 2 s

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
# The single-writer lease of one account across instances (``SharedState.lease``); none by default.
Lease = Callable[[str], contextlib.AbstractAsyncContextManager[None]]


def due_time(expires_at: float | None, last_refresh_at: float | None, interval: float | None,
             now: float) -> float:
    """When an account should be refreshed: CPA's rule, with the lead capped at half the lifetime.

    Lead = min(5 days, half the token's lifetime), the lifetime being expiry − last refresh, so a
    short-lived token never causes a refresh storm. No expiry: last refresh + 5 days; neither: now.
    A per-file ``refresh_interval_seconds`` overrides: due when expiry is within the interval or the
    interval has passed since the last refresh, whichever comes first.
    """
    if interval:
        candidates = [expires_at - interval] if expires_at is not None else []
        candidates.append(last_refresh_at + interval if last_refresh_at is not None else now)
        return min(candidates)
    if expires_at is not None:
        lead = MAX_LEAD
        if last_refresh_at is not None and expires_at > last_refresh_at:
            lead = min(MAX_LEAD, (expires_at - last_refresh_at) / 2)
        return expires_at - lead
    if last_refresh_at is not None:
        return last_refresh_at + MAX_LEAD
    return now


def credential_due(credential: Credential, now: float) -> float:
    return due_time(credential.expires_at, credential.last_refresh_at, credential.refresh_interval, now)


def _record_due(record: dict[str, Any], now: float) -> float:
    return due_time(expiry_of(record), last_refresh_of(record), refresh_interval_of(record), now)


# How long an account rests after its token was refused and the issuer could not renew it.
REFRESH_RETRY = 60.0


@dataclass(eq=False)
class RefreshFailed(ProxyError):
    """A refresh that did not produce a usable token. A ``ProxyError``, so the runner can hand it to
    the client or fail over: 401 ``auth_unavailable`` when the account needs a new login, 503 when the
    issuer was unreachable or erred (the account is retried later)."""

    permanent: bool = False


def display(credential: Credential) -> str:
    """``main (u@example.com)``: the label the user chose and the email they sign in with."""
    if credential.label and credential.email and credential.label != credential.email:
        return f"{credential.label} ({credential.email})"
    return credential.name


def public_label(credential: Credential) -> str:
    """How an error a client may read names the account: the label the user chose, never an e-mail."""
    label = credential.label.strip()
    return f"account {label}" if label and "@" not in label else "this account"


def _needs_login(credential: Credential, explanation: str) -> RefreshFailed:
    message = (f"The token of {public_label(credential)} was refused and cannot be renewed: {explanation}. "
               "Run `cliproxy login` to sign in again (`cliproxy status` shows which account).")
    return RefreshFailed(401, message, code="auth_unavailable", type="authentication_error",
                         outcome=Outcome.UNAUTHORIZED, permanent=True)


def _transient(credential: Credential, error: RefreshError) -> RefreshFailed:
    """The token was refused and the issuer could not renew it now (unreachable, erring, too slow):
    the account's own failure, so it rests a short while and another account serves; a new token in
    its file ends the rest at once."""
    message = (f"Could not refresh the token of {public_label(credential)} ({error}); "
               "it will be retried automatically.")
    return RefreshFailed(503, message, code="auth_refresh_failed", type="server_error",
                         outcome=Outcome.UNAUTHORIZED, retry_after=REFRESH_RETRY, permanent=False)


class Refresher:
    """Refreshes one account at a time per account, safely across processes.

    ``on_refreshed(credential)`` is called with the new credential after a refresh or after adopting
    a token another process wrote; ``on_failed(credential, message)`` after a failure — for a
    permanent one the credential passed has ``auth_error`` set, for a transient one it is unchanged.
    """

    def __init__(self, config: Config, http: httpx.AsyncClient | None,
                 on_refreshed: Callable[[Credential], None] = lambda credential: None,
                 on_failed: Callable[[Credential, str], None] = lambda credential, message: None,
                 *, store: CredentialStore | None = None, clock: Clock = time.time,
                 timeout: float = REQUEST_TIMEOUT.read or 30.0, sleep: Sleep = asyncio.sleep,
                 retry_delays: Sequence[float] = RETRY_DELAYS, lease: Lease | None = None) -> None:
        self._config = config
        self._http = http  # one given client serves every account (tests); else one per way out
        self._clients: dict[tuple[str, str, bool], httpx.AsyncClient] = {}
        self._on_refreshed, self._on_failed = on_refreshed, on_failed
        self.store: CredentialStore = store or credential_store(config)
        self._clock, self._sleep = clock, sleep
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))
        self._retry_delays = tuple(retry_delays)
        self._flights: dict[tuple[str, str, bool], asyncio.Task[Credential]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._lease: Lease = lease or (lambda name: contextlib.nullcontext())

    def configure(self, config: Config) -> None:
        """A reloaded config: the next refresh uses its ``oauth-issuer``, ``proxy-url`` and trust."""
        self._config = config

    def _client(self, proxy_url: str) -> httpx.AsyncClient:
        """The client of one account's way out: its own ``proxy_url``, else the config's, so a
        refresh leaves from the same IP as the account's requests."""
        if self._http is not None:
            return self._http
        proxy = chosen_proxy(proxy_url, self._config.proxy_url)
        up = self._config.upstream
        key = (proxy, up.ca_file, up.system_trust)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = new_client(proxy, up)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def on_unauthorized(self, credential: Credential) -> Credential:
        """The runner's hook after an upstream 401: a forced refresh (``RefreshFn`` of runner/call.py)."""
        return await self.refresh(credential, force=True)

    async def refresh(self, credential: Credential, *, force: bool = False) -> Credential:
        """The credential with a fresh token, or :class:`RefreshFailed`.

        Without ``force`` the network is used only when the account is due. Concurrent calls for the
        same account and token share one flight, which the caller's cancellation does not abort.
        """
        if credential.kind != "oauth":
            raise RefreshFailed(401, f"Credential {credential.name} is an API key; it cannot be refreshed.",
                                code="auth_unavailable", type="authentication_error",
                                outcome=Outcome.UNAUTHORIZED, permanent=True)
        key = (credential.id, credential.refresh_token, force)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._run(credential, force))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._drop_flight(key, done))
        return await asyncio.shield(flight)

    def _drop_flight(self, key: tuple[str, str, bool], flight: asyncio.Task[Credential]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved here so an unawaited failure is not reported as lost

    async def _run(self, credential: Credential, force: bool) -> Credential:
        lock = self._locks.setdefault(credential.id, asyncio.Lock())
        async with lock, self._lease(credential.id):
            try:
                async with self.store.alock(credential.id):
                    return await self._locked(credential, force)
            except StoreUnavailable as exc:
                self._notify_failed(credential, str(exc))
                raise _transient(credential, RefreshError(f"the account store is unreachable: {exc}",
                                                          permanent=False)) from None
            except StoreError as exc:
                self._notify_failed(credential, str(exc))
                raise RefreshFailed(500, "the proxy could not read or write an account file during a token "
                                    "refresh (its log says which and why)", code="internal_server_error",
                                    type="server_error", outcome=Outcome.INTERNAL) from None

    def _credential(self, record: dict[str, Any], credential: Credential) -> Credential:
        return credential_from_record(record, credential.id, self._config.codex_base_url, credential.path)

    async def _locked(self, credential: Credential, force: bool) -> Credential:
        """Under the account's file lock: re-read, then adopt, fail fast, skip or refresh."""
        record = await self._read(credential.id)
        if record is None:
            error = _needs_login(credential, "its account file is gone or unreadable")
            self._notify_failed(credential, error.message)
            raise error
        current = self._credential(record, credential)
        if current.auth_error:
            error = _needs_login(credential, auth_error_message(record) or current.auth_error)
            self._notify_failed(current, error.message)
            raise error
        if current.refresh_token != credential.refresh_token:
            log.info("account %s: adopted the token another process refreshed", credential.name)
            return self._adopt(current)
        if not current.refresh_token:
            error = _needs_login(credential, "its account file has no refresh token")
            self._notify_failed(credential, error.message)
            raise error
        if not force and _record_due(record, self._clock()) > self._clock():
            return current
        return await self._refresh_record(record, current)

    async def _read(self, name: str) -> dict[str, Any] | None:
        """The store is read and written in a thread: a shared store answers over the network, and
        the loop serving every stream must not wait for it."""
        return await asyncio.to_thread(self.store.read, name)

    async def _write(self, name: str, record: dict[str, Any]) -> None:
        await asyncio.to_thread(self.store.write, name, record)

    def _adopt(self, credential: Credential) -> Credential:
        self._notify_refreshed(credential)
        return credential

    async def _refresh_record(self, record: dict[str, Any], credential: Credential) -> Credential:
        try:
            bundle = await self._call(credential.refresh_token, credential.proxy_url)
        except RefreshError as exc:
            return await self._failed(record, credential, exc)
        updated = apply_refresh(record, bundle, self._clock())
        await self._write(credential.id, updated)
        fresh = self._credential(updated, credential)
        log.info("account %s: token refreshed", credential.name)
        self._notify_refreshed(fresh)
        return fresh

    async def _call(self, refresh_token: str, proxy_url: str) -> TokenBundle:
        """One refresh with CPA's quick retries for 5xx/429/connection errors; 30 s per attempt."""
        last: RefreshError | None = None
        http, endpoints = self._client(proxy_url), Endpoints(self._config.oauth_issuer)
        for delay in (0.0, *self._retry_delays):
            if delay:
                await self._sleep(delay)
            try:
                return await asyncio.wait_for(
                    refresh_tokens(http, endpoints, refresh_token, timeout=self._timeout),
                    self._timeout.read)
            except TimeoutError:
                raise RefreshError(f"token refresh timed out after {self._timeout.read:g} s",
                                   permanent=False) from None
            except RefreshError as exc:
                if not exc.retryable:
                    raise
                last = exc
        assert last is not None
        raise RefreshError(f"token refresh failed after {1 + len(self._retry_delays)} attempts: {last}",
                           permanent=False, status=last.status, code=last.code)

    async def _failed(self, record: dict[str, Any], credential: Credential, error: RefreshError) -> Credential:
        if not error.permanent:
            log.warning("account %s: token refresh failed, will retry: %s", credential.name, error)
            self._notify_failed(credential, str(error))
            raise _transient(credential, error)
        if error.reason == "reused":
            # Someone outside our lock (Codex CLI, an older proxy) may have spent the token first.
            latest = await self._read(credential.id)
            if latest is not None and str(latest.get("refresh_token") or "") != credential.refresh_token:
                return self._adopt(self._credential(latest, credential))
        marked = mark_auth_error(record, error, self._clock())
        await self._write(credential.id, marked)
        failed = self._credential(marked, credential)
        log.warning("account %s: needs a new login (%s, %s)", credential.name, error.reason, error.code
                    or f"status {error.status}")
        failure = _needs_login(credential, error.explanation)
        self._notify_failed(failed, failure.message)
        raise failure

    def _notify_refreshed(self, credential: Credential) -> None:
        try:
            self._on_refreshed(credential)
        except Exception:
            log.exception("on_refreshed callback failed for account %s", credential.name)

    def _notify_failed(self, credential: Credential, message: str) -> None:
        try:
            self._on_failed(credential, message)
        except Exception:
            log.exception("on_failed callback failed for account %s", credential.name)


__all__ = [
    "MAX_LEAD",
    "Clock",
    "RefreshFailed",
    "Refresher",
    "credential_due",
    "display",
    "due_time",
]
