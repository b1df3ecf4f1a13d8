"""The runner: one client request's attempts under the streaming rule (the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import orjson

from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.pool.core import Pool
from cliproxy.pool.shortage import Exhausted
from cliproxy.responses.events import FAILURE_TYPES, OUTPUT_ITEM_DONE, RATE_LIMITS, TERMINAL_TYPES
from cliproxy.responses.output import OutputCollector
from cliproxy.responses.reader import Batch
from cliproxy.runner.budget import RetryBudget, internal_error
from cliproxy.runner.call import Attempt, Call, CallResult, RefreshFn
from cliproxy.runner.sinks import Channel, CollectSink, Sink, StreamSink
from cliproxy.upstream.classify import classify_stream_error, disconnected
from cliproxy.upstream.codex import Upstream

log = logging.getLogger(__name__)


class Runner:
    """Picks an account, sends, fails over while nothing was sent, reports outcomes to the pool."""

    def __init__(self, upstream: Upstream, pool: Pool, refresh: RefreshFn | None = None) -> None:
        self._upstream, self._pool, self._refresh = upstream, pool, refresh

    @property
    def pool(self) -> Pool:
        return self._pool

    def quota_headers(self, call: Call) -> dict[str, str]:
        """``x-codex-*`` headers with the pool's quota, for Codex CLI (it reads them over HTTP)."""
        if not call.request.extra.get("codex_client"):
            return {}
        return self._pool.recent_view().headers(time.time())

    async def complete(self, call: Call, result: CallResult) -> dict[str, Any]:
        """Non-streaming: the terminal response object, output patched; ProxyError on failure."""
        sink = CollectSink(result)
        await self._execute(call, sink)
        assert sink.response is not None
        return sink.response

    async def stream(self, call: Call, result: CallResult) -> AsyncGenerator[bytes, None]:
        """The client's bytes. Raises ProxyError only before its first yield (not yet committed);
        a keepalive goes out after the snapshot's ``streaming.keepalive-seconds`` of silence."""
        translator = call.dialect.stream_translator(call.request)
        channel = Channel(call.config.limits.client_buffer_bytes)
        task = asyncio.create_task(self._pump(call, StreamSink(translator, channel, call, result), channel))
        keepalive_seconds = call.config.streaming.keepalive_seconds
        timeout = keepalive_seconds if keepalive_seconds > 0 else None
        committed = False
        try:
            while True:
                try:
                    data = await channel.get(timeout)
                except ProxyError as err:
                    if not committed:
                        raise
                    result.error = err
                    yield translator.fail(err)
                    return
                if data is None:
                    return
                committed = True
                yield data or translator.keepalive
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _pump(self, call: Call, sink: StreamSink, channel: Channel) -> None:
        try:
            await self._execute(call, sink)
        except ProxyError as err:
            channel.close(err)
            return
        except Exception:
            log.exception("request %s: unexpected failure while streaming (ours)", call.request_id)
            channel.close(internal_error(call.request_id))
            return
        tail = sink.translator.finish()
        if tail:
            channel.put(tail)
        channel.close()

    async def _execute(self, call: Call, sink: Sink) -> None:
        try:
            await self._each_account(call, sink.result, lambda credential: self._attempt(call, credential, sink),
                                     lambda: sink.content_sent)
        except ProxyError as err:
            if call.on_failed is not None:
                call.on_failed(err)
            raise

    async def compact(self, call: Call, result: CallResult) -> tuple[int, bytes]:
        """``/responses/compact``: the same account choice and failover, one JSON answer; its
        ``usage``, if any, and the serving account land in ``result`` for the usage history."""
        answers: list[tuple[int, bytes]] = []

        async def attempt(credential: Credential) -> ProxyError | None:
            try:
                answers.append(await self._upstream.compact(credential, call.upstream_request(credential)))
            except ProxyError as err:
                return err
            return None

        await self._each_account(call, result, attempt, lambda: False)
        status, payload = answers[-1]
        result.usage = _usage_of(payload)
        return status, payload

    async def _each_account(self, call: Call, result: CallResult, attempt: Attempt,
                            content_sent: Callable[[], bool]) -> None:
        """Accounts in turn until one succeeds, the failure is the request's or ours, or content was
        sent. What the budget allows in between (a backoff, a wait for a reset) happens in ``_pick``."""
        budget = RetryBudget.of(call.config)
        tried: set[str] = set()
        last_error: ProxyError | None = None
        while True:
            credential = await self._pick(call, tried, budget, last_error)
            tried.add(credential.id)
            error = await self._try_account(call, result, credential, attempt, content_sent)
            if error is None:
                return
            if content_sent() or not error.retryable:
                raise error
            last_error = error

    async def _pick(self, call: Call, tried: set[str], budget: RetryBudget,
                    last_error: ProxyError | None) -> Credential:
        """The next account to try. When none is left in this round, wait as long as the budget
        allows: after a blip, to try the same accounts again (never others: ``max-retry-credentials``
        holds); else for a new round with every account. With nothing left, raise the client's error."""
        while True:
            exhausted: Exhausted | None = None
            if budget.more_accounts(len(tried)):
                again = budget.again  # after a backoff: the accounts to try again, and no other
                exclude = tried if again is None else tried | ({c.id for c in call.candidates} - again)
                try:
                    return self._pool.pick(call.candidates, model=call.model_id, exclude=exclude,
                                           session=call.session, key=call.candidates_key)
                except Exhausted as caught:
                    exhausted = caught
            backoff = budget.backoff(exhausted, last_error)
            wait = budget.wait(exhausted, last_error) if backoff is None else backoff
            if wait is None:
                raise self._out_of_accounts(call, exhausted, last_error)
            await asyncio.sleep(wait)
            budget.again = set(tried) if backoff is not None else None
            tried.clear()

    @staticmethod
    def _out_of_accounts(call: Call, exhausted: Exhausted | None, last_error: ProxyError | None) -> ProxyError:
        """The error a call ends with when the budget allows no more attempts."""
        if exhausted is None and last_error is not None:
            return last_error
        assert exhausted is not None
        return exhausted.error(call.dialect.name, last_error)

    async def _try_account(self, call: Call, result: CallResult, credential: Credential, attempt: Attempt,
                           content_sent: Callable[[], bool]) -> ProxyError | None:
        """One account: an attempt, and after a 401 one refresh and one retry on the same account.
        The pool records one outcome for it, stamped with when it began (``started``), so a success
        never ends a rest that began after it and failures in flight together count once."""
        started = self._pool.now()
        error = await attempt(credential)
        if (error is not None and error.outcome is Outcome.UNAUTHORIZED and self._refresh is not None
                and credential.kind == "oauth" and not content_sent()):
            try:
                credential = await self._refresh(credential)
            except ProxyError as refresh_error:
                error = refresh_error
            else:
                error = await attempt(credential)
        self._pool.record(credential, call.model_id, error, started=started)
        if error is None:
            result.credential = credential
        return error

    async def _attempt(self, call: Call, credential: Credential, sink: Sink) -> ProxyError | None:
        request = call.upstream_request(credential, sink.by_name_only)
        way = self._upstream if call.upstream is None else call.upstream
        try:
            async with way.stream(credential, request) as upstream:
                self._pool.observe_headers(credential, upstream.headers)
                sink.result.upstream_headers = upstream.headers
                sink.begin_attempt(credential)
                await self._relay(upstream.batches(), sink, call, credential)
        except ProxyError as err:
            return err
        return None

    async def _relay(self, batches: AsyncIterator[Batch], sink: Sink,
                     call: Call, credential: Credential) -> None:
        """Hand each upstream event to the sink, in batches as the network delivered them."""
        collector = OutputCollector()
        finished = False
        async for batch in batches:
            for event, raw in batch:
                event_type = event.get("type", "")
                if event_type in FAILURE_TYPES:
                    raise classify_stream_error(event)
                if event_type == RATE_LIMITS:
                    event, raw = self._rate_limits(call, credential, event, raw)
                elif event_type == OUTPUT_ITEM_DONE:
                    collector.add(event)
                elif event_type in TERMINAL_TYPES:
                    finished = True
                    raw = self._terminal(event, raw, collector, call, sink.result)
                sink.event(event, raw, event_type)
                if sink.flush:  # first content (time to first token), or a client reading slower than we do
                    sink.flush = False
                    await sink.drain()
        if not finished:
            raise disconnected("stream closed before response.completed")

    @staticmethod
    def _terminal(event: dict[str, Any], raw: bytes, collector: OutputCollector, call: Call,
                  result: CallResult) -> bytes:
        """``response.completed``/``incomplete``: output rebuilt, usage kept, completion hook called."""
        if collector.patch(event):
            raw = orjson.dumps(event)
        response = event.get("response")
        if isinstance(response, dict):
            if isinstance(response.get("usage"), dict):
                result.usage = response["usage"]
            if call.on_completed is not None:
                call.on_completed(response)
        return raw

    def _rate_limits(self, call: Call, credential: Credential, event: dict[str, Any],
                     raw: bytes) -> tuple[dict[str, Any], bytes]:
        """Learn the account's quota from the event; a client that sees it gets the pool's instead
        (docs/pool.md, "What Codex CLI is shown"). Events of other limit families are passed on unchanged."""
        self._pool.observe_event(credential, event)
        family = event.get("metered_limit_name") or event.get("limit_name") or "codex"
        if not call.dialect.shows_codex_events or str(family).lower() != "codex":
            return event, raw
        pooled = self._pool.recent_view().rate_limits_event()
        return pooled, orjson.dumps(pooled)


def _usage_of(payload: bytes) -> dict[str, Any]:
    """A JSON answer's ``usage`` object (parsed once per compaction, which is rare)."""
    try:
        answer = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    usage = answer.get("usage") if isinstance(answer, dict) else None
    return usage if isinstance(usage, dict) else {}


__all__ = ["Runner"]
