"""Reads each OAuth account's quota from the ChatGPT backend's usage endpoint (quota.md §6 "Poll").

Response headers and ``codex.rate_limits`` events only tell about accounts that serve: an idle
account's windows go stale, a new one's are unknown. With ``quota.poll-interval`` set, a background
task reads ``GET <ChatGPT backend>/wham/usage`` for every OAuth account, with that account's own
token and account id, once per interval, and feeds the answer into the pool's windows. While the
poll is on, the usage route also reads, before answering, the accounts not read for a minute, so
Codex CLI's ``/status`` shows fresh numbers.

A failed read is never an account failure: a 401 here means the token is due for the refresh the
scheduler does anyway (auth.md), so it is logged and nothing is cooled down or blocked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import httpx
import orjson

from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.pool.core import Pool
from cliproxy.upstream.catalogue import request_headers
from cliproxy.upstream.codex import CodexUpstream

log = logging.getLogger(__name__)

STALE_AFTER = 60.0  # the usage route reads accounts whose last read is older than this
ON_DEMAND_WAIT = 3.0  # …and answers after this long at most; slower reads land for the next ask
CONCURRENCY = 8  # reads in flight at once, so a thousand accounts do not burst the backend
READ_TIMEOUT = 15.0
IDLE_RECHECK = 5.0  # poll off: how often the loop looks whether a reload turned it on
ROUND_SLACK = 0.9  # a round skips accounts read (on demand) less than 0.9 interval ago


def chatgpt_backend_base(codex_base_url: str) -> str:
    """The ChatGPT backend next to a Codex API base: ``https://chatgpt.com/backend-api/codex`` →
    ``https://chatgpt.com/backend-api`` (a base without ``/backend-api`` gets it appended)."""
    base = codex_base_url.rstrip("/")
    if base.endswith("/codex"):
        return base[: -len("/codex")]
    return base if "/backend-api" in base else base + "/backend-api"


def usage_url(config: Config, codex_base_url: str) -> str:
    """``quota.usage-url`` when set, else ``<ChatGPT backend>/wham/usage`` of that base."""
    return config.quota.usage_url or chatgpt_backend_base(codex_base_url) + "/wham/usage"


class QuotaPoller:
    """Background and on-demand usage reads; at most one read in flight per account."""

    def __init__(self, pool: Pool, upstream: CodexUpstream, config: Callable[[], Config],
                 clock: Callable[[], float] = time.time) -> None:
        self._pool, self._upstream, self._config, self._clock = pool, upstream, config, clock
        self._read_at: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self._config().quota.poll_interval > 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        tasks = [*self._inflight.values(), *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _loop(self) -> None:
        """One round per interval; the interval is read each round, so a reload applies."""
        while True:
            interval = self._config().quota.poll_interval
            if interval <= 0:
                await asyncio.sleep(IDLE_RECHECK)
                continue
            await self.refresh(interval * ROUND_SLACK)
            await asyncio.sleep(interval)

    async def refresh(self, max_age: float, wait: float | None = None,
                      only: Iterable[Credential] | None = None) -> None:
        """Read the accounts (all, or ``only``) not read for ``max_age`` seconds; return when
        done or after ``wait`` seconds (the reads go on)."""
        tasks = [self._start(c) for c in self._stale(max_age, only)]
        if tasks:
            await asyncio.wait(tasks, timeout=wait)

    def _stale(self, max_age: float, only: Iterable[Credential] | None) -> list[Credential]:
        now = self._clock()
        pool_credentials = self._pool.credentials()
        if only is None:
            known = {c.id for c in pool_credentials}
            self._read_at = {cid: at for cid, at in self._read_at.items() if cid in known}
        chosen: Sequence[Credential] = pool_credentials if only is None else [self._pool.current(c) for c in only]
        return [c for c in chosen if c.kind == "oauth" and c.usable
                and (c.id in self._inflight or self._read_at.get(c.id, 0.0) <= now - max_age)]

    def _start(self, credential: Credential) -> asyncio.Task[None]:
        task = self._inflight.get(credential.id)
        if task is None:
            self._read_at[credential.id] = self._clock()
            task = asyncio.create_task(self._read(credential))
            self._inflight[credential.id] = task
            task.add_done_callback(partial(self._finished, credential.id))
        return task

    def _finished(self, cid: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(cid, None)

    async def _read(self, credential: Credential) -> None:
        """One usage read; every failure is logged (without the token) and otherwise ignored."""
        async with self._limit:
            credential = self._pool.current(credential)
            config = self._config()
            try:
                response = await self._upstream.client_for(credential).get(
                    usage_url(config, credential.base_url), headers=request_headers(credential, config),
                    timeout=READ_TIMEOUT)
            except httpx.HTTPError as exc:
                log.info("quota poll: usage read for %s failed (%s)", credential.name, type(exc).__name__)
                return
        if response.status_code == 401:
            log.info("quota poll: usage read for %s answered 401; left to the token refresh, the "
                     "account keeps serving", credential.name)
            return
        if response.status_code != 200:
            log.info("quota poll: usage read for %s answered %d", credential.name, response.status_code)
            return
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not self._pool.observe_usage(credential, body):
            log.info("quota poll: usage answer for %s was not readable", credential.name)
