"""The refresh schedule: every account is refreshed before its token expires, one sleeping task for all.

Due times sit in a min-heap; one loop sleeps until the earliest (or a fallback wake, for suspends and
clock jumps) and starts the refreshes that are due, a few at a time. A transient failure backs off
(5 min doubling to 1 h) for that refresh token; a permanent one takes the account off the schedule
until its file shows a new token. The refresh itself, and its guards, are ``auth.refresh``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Sequence

from cliproxy.auth.refresh import Clock, Refresher, RefreshFailed, credential_due
from cliproxy.credential import Credential

log = logging.getLogger(__name__)

BACKOFF_START, BACKOFF_MAX = 300.0, 3600.0
MIN_GAP = 60.0  # never refresh one account twice within a minute, however short its tokens
FALLBACK_WAKE = 900.0  # re-check the schedule at least every 15 min (suspend, clock jumps)
WORKERS = 4


def _schedulable(credential: Credential) -> bool:
    """OAuth accounts with a refresh token and no permanent failure — disabled or cooling ones too."""
    return credential.kind == "oauth" and bool(credential.refresh_token) and not credential.auth_error


class RefreshScheduler:
    """Refreshes every account before its token expires: a min-heap of due times, one sleeping task.

    ``update(credentials)`` is called at start and on every reload; ``run_due()`` refreshes whatever
    is due now (the loop calls it; tests with a fake clock call it directly).
    """

    def __init__(self, refresher: Refresher, *, clock: Clock = time.time, workers: int = WORKERS) -> None:
        self._refresher = refresher
        self._clock = clock
        self._credentials: dict[str, Credential] = {}
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._backoff: dict[str, tuple[str, int, float]] = {}  # id -> (token, level, retry at)
        self._dead: dict[str, str] = {}  # id -> refresh token that failed permanently
        self._running: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(workers)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def refresher(self) -> Refresher:
        return self._refresher

    def update(self, credentials: Sequence[Credential]) -> None:
        now = self._clock()
        self._credentials = {c.id: c for c in credentials if _schedulable(c)}
        self._dead = {cid: token for cid, token in self._dead.items()
                      if cid in self._credentials and self._credentials[cid].refresh_token == token}
        self._due = {cid: self._next_due(c, now) for cid, c in self._credentials.items()
                     if cid not in self._dead}
        self._heap = [(due, cid) for cid, due in self._due.items()]
        heapq.heapify(self._heap)
        self._wake.set()

    def _next_due(self, credential: Credential, now: float) -> float:
        due = credential_due(credential, now)
        token, _level, retry_at = self._backoff.get(credential.id, ("", 0, 0.0))
        if token and token == credential.refresh_token:
            due = max(due, retry_at)
        return due

    def next_due(self, credential_id: str) -> float | None:
        """When the account will next be refreshed, or None when it is not scheduled."""
        return self._due.get(credential_id)

    def _schedule(self, credential_id: str, due: float) -> None:
        self._due[credential_id] = due
        heapq.heappush(self._heap, (due, credential_id))
        self._wake.set()

    def _pop_due(self, now: float) -> list[str]:
        ready: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            due, cid = heapq.heappop(self._heap)
            if self._due.get(cid) == due and cid not in self._running:
                del self._due[cid]
                ready.append(cid)
        return ready

    async def run_due(self) -> int:
        """Start a refresh for every account due now and wait for them; returns how many ran."""
        started = [self._start(cid) for cid in self._pop_due(self._clock())]
        if started:
            await asyncio.gather(*started, return_exceptions=True)
        return len(started)

    def _start(self, credential_id: str) -> asyncio.Task[None]:
        task = asyncio.create_task(self._refresh_one(self._credentials[credential_id]))
        self._running[credential_id] = task
        task.add_done_callback(lambda _: self._running.pop(credential_id, None))
        return task

    async def _refresh_one(self, credential: Credential) -> None:
        async with self._slots:
            try:
                fresh = await self._refresher.refresh(credential)
            except RefreshFailed as exc:
                self._after_failure(credential, exc)
                return
            except Exception:
                log.exception("account %s: unexpected refresh error", credential.name)
                self._after_failure(credential, None)
                return
        self._backoff.pop(credential.id, None)
        if credential.id in self._credentials:
            self._credentials[credential.id] = fresh
            now = self._clock()
            self._schedule(credential.id, max(credential_due(fresh, now), now + MIN_GAP))

    def _after_failure(self, credential: Credential, error: RefreshFailed | None) -> None:
        if error is not None and error.permanent:
            self._dead[credential.id] = credential.refresh_token
            self._due.pop(credential.id, None)
            return
        _token, level, _at = self._backoff.get(credential.id, ("", 0, 0.0))
        retry_at = self._clock() + min(BACKOFF_MAX, BACKOFF_START * 2 ** level)
        self._backoff[credential.id] = (credential.refresh_token, level + 1, retry_at)
        if credential.id in self._credentials:
            self._schedule(credential.id, retry_at)

    def start(self) -> None:
        if self._loop_task is None:
            self._stopping = False
            self._loop_task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Python 3.11's ``wait_for`` can turn a cancellation that meets its timeout into a
        ``TimeoutError``, which the loop takes for its ordinary wake-up: ``_stopping`` ends it anyway."""
        self._stopping = True
        tasks = [t for t in (self._loop_task, *self._running.values()) if t is not None]
        self._loop_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            for cid in self._pop_due(self._clock()):
                self._start(cid)
            self._wake.clear()
            wait = FALLBACK_WAKE
            if self._heap:
                wait = min(wait, max(0.0, self._heap[0][0] - self._clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)


__all__ = ["RefreshScheduler"]
