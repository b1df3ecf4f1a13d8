"""One client request's attempts, under the one streaming rule (docs/architecture.md).

1. Until the response is committed, a failure is an ordinary HTTP error with its real status:
   ``stream()`` raises ProxyError before its first yield.
2. The response is committed at the first frame for the client or the first keepalive.
3. Until a content frame reached the client, a failed attempt fails over to another account;
   preamble frames already sent are not sent again.
4. After content, a failure is exactly one error event in the client's dialect, then the end.

Routes make one call per mode (``stream``, ``complete``, ``compact``) with a ``Call``, the frozen
inputs of one client request; what the call produced (usage, the serving account, the time of first
content, a late error) lands in a ``CallResult`` the route hands in and its observers read afterwards.
Each attempt is one call to the upstream, ``Upstream.stream(credential, request)``, which builds the
wire request itself from an ``UpstreamRequest`` in Responses terms.

Reading the upstream runs in its own task (the pump) and hands frames to the client side through
a small channel, so keepalives can be written during silences without cancelling a read, and
frames that arrive together go out in one write.

The pool decides which account tries next (``Pool.pick``, with the call's session for affinity)
and learns from every attempt: its outcome (``record``) and the quota the backend reported
(``observe_headers``, ``observe_event``). Codex CLI is shown the pool's quota, not the serving
account's: its ``codex.rate_limits`` event is rewritten with the pool view. When no account is
left, the pool's ``Exhausted`` becomes one aggregated error in the client's dialect.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.dialects.base import Dialect, StreamTranslator, TranslatedRequest
from cliproxy.errors import Blame, Outcome, ProxyError
from cliproxy.pool.core import Pool
from cliproxy.pool.shortage import Exhausted
from cliproxy.responses.events import FAILURE_TYPES, OUTPUT_ITEM_DONE, PREAMBLE_TYPES, RATE_LIMITS, TERMINAL_TYPES
from cliproxy.responses.output import OutputCollector
from cliproxy.responses.reader import Batch
from cliproxy.upstream.classify import classify_stream_error, disconnected
from cliproxy.upstream.codex import Upstream
from cliproxy.upstream.request import UpstreamRequest, check_client_headers
from cliproxy.upstream.transport.wakeup import Wakeup

log = logging.getLogger(__name__)

# Events the relay itself reads: always parsed, whatever the dialect would skip.
RUNNER_READS = frozenset(name.encode() for name in (*FAILURE_TYPES, RATE_LIMITS, OUTPUT_ITEM_DONE, *TERMINAL_TYPES))

RefreshFn = Callable[[Credential], Awaitable[Credential]]
Attempt = Callable[[Credential], Awaitable["ProxyError | None"]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """Everything one client request needs to be sent, whatever its dialect; fixed once built."""

    dialect: Dialect
    request: TranslatedRequest
    model_id: str
    candidates: tuple[Credential, ...]
    upstream_name: Callable[[Credential], str]
    client_headers: Mapping[str, str]
    config: Config  # the snapshot the request started with
    prompt_cache_key: str | None = None
    session: str | None = None  # keeps a conversation on the account holding its prompt cache
    candidates_key: Hashable | None = None  # names the candidate set so the pool reuses its index
    # Called with the terminal response object (e.g. to remember a Claude session's reasoning).
    on_completed: Callable[[dict[str, Any]], None] | None = None
    request_id: str = field(default_factory=lambda: secrets.token_hex(8))  # named in logs and in our 500s

    def __post_init__(self) -> None:
        check_client_headers(self.client_headers, self.prompt_cache_key)

    def upstream_request(self, credential: Credential, by_name_only: frozenset[bytes] = frozenset(),
                         ) -> UpstreamRequest:
        """What one attempt on ``credential`` asks of the backend (the model name is per account)."""
        return UpstreamRequest(
            body=self.request.body, model=self.upstream_name(credential), dialect=self.dialect.name,
            client_headers=self.client_headers, prompt_cache_key=self.prompt_cache_key,
            by_name_only=by_name_only, user_agent=self.config.codex_header_defaults.user_agent,
            image_generation=not self.config.image_generation_disabled)


@dataclass(slots=True)
class CallResult:
    """What one call produced, filled in by the runner as it goes; observers read it afterwards."""

    usage: dict[str, Any] = field(default_factory=dict)  # the terminal response's ``usage``
    credential: Credential | None = None  # the account whose attempt succeeded
    first_content_at: float | None = None  # ``time.monotonic()`` when content first reached the client
    error: ProxyError | None = None  # the error that ended a stream after it was committed


class _Sink(Protocol):
    content_sent: bool
    flush: bool
    by_name_only: frozenset[bytes]
    result: CallResult

    def begin_attempt(self, credential: Credential) -> None: ...

    def event(self, event: dict[str, Any], raw: bytes, event_type: str) -> None: ...

    async def drain(self) -> None: ...


class _Channel:
    """Frames from the pump to the client side; ``get`` waits at most ``timeout`` seconds.

    Bounded: ``put`` reports when more than ``limit`` bytes wait for a client that reads slower
    than the upstream sends, and the pump then waits in ``room`` until the client side took them,
    so a stalled client stops the upstream read instead of growing this buffer without end.
    """

    __slots__ = ("_chunks", "_closed", "_error", "_limit", "_room", "_size", "_wakeup")

    def __init__(self, limit: int) -> None:
        self._chunks: list[bytes] = []
        self._wakeup = Wakeup()
        self._room = Wakeup()
        self._closed = False
        self._error: ProxyError | None = None
        self._size, self._limit = 0, limit

    def put(self, data: bytes) -> bool:
        """Queue ``data``; True when the channel is now full and the pump should wait for ``room``."""
        self._chunks.append(data)
        self._size += len(data)
        self._wakeup.wake()
        return self._size > self._limit

    async def room(self) -> None:
        """Return once the client side took what is buffered (at once if it already has)."""
        while self._size > self._limit and not self._closed:
            await self._room.wait(None)

    def close(self, error: ProxyError | None = None) -> None:
        self._closed, self._error = True, error
        self._wakeup.wake()

    async def get(self, timeout: float | None) -> bytes | None:
        """Buffered frames joined; ``b""`` after ``timeout`` of silence; None once closed cleanly."""
        if not self._chunks and not self._closed and not await self._wakeup.wait(timeout):
            return b""
        if self._chunks:
            data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
            self._chunks.clear()
            self._size = 0
            self._room.wake()
            return data
        if self._error is not None:
            raise self._error
        return None


class _StreamSink:
    """Feeds events to the dialect's translator; drops a retry's repeated preamble."""

    def __init__(self, translator: StreamTranslator, channel: _Channel, call: Call, result: CallResult) -> None:
        self.translator, self.channel, self.result = translator, channel, result
        self.content_sent = self.preamble_sent = False
        self.flush = False  # the first content frame goes out, or a full channel drains, before more is read
        self.attempts = 0
        self.by_name_only = call.dialect.by_name_only - RUNNER_READS

    def begin_attempt(self, credential: Credential) -> None:
        self.attempts += 1

    def event(self, event: dict[str, Any], raw: bytes, event_type: str) -> None:
        out = self.translator.feed(event, raw)
        if not out:
            return
        if not self.content_sent:
            if event_type in PREAMBLE_TYPES:
                if self.attempts > 1 and self.preamble_sent:
                    return
                self.preamble_sent = True
            else:
                self.content_sent = self.flush = True
                self.result.first_content_at = time.monotonic()
        if self.channel.put(out):
            self.flush = True

    async def drain(self) -> None:
        """Let the client side write: at once after the first content, until there is room when full."""
        await asyncio.sleep(0)
        await self.channel.room()


class _CollectSink:
    """Non-streaming: keep the terminal event's response; nothing reaches the client early."""

    content_sent = flush = False
    by_name_only: frozenset[bytes] = frozenset()

    def __init__(self, result: CallResult) -> None:
        self.result = result
        self.response: dict[str, Any] | None = None

    def begin_attempt(self, credential: Credential) -> None:
        self.response = None

    def event(self, event: dict[str, Any], raw: bytes, event_type: str) -> None:
        if event_type in TERMINAL_TYPES and isinstance(event.get("response"), dict):
            self.response = event["response"]

    async def drain(self) -> None:
        """Never called: nothing is sent before the end."""


# An upstream blip with no other account left is retried on the same one after a short, jittered
# backoff: this many times, the first after about TRANSIENT_BACKOFF seconds, then doubling.
TRANSIENT_RETRIES = 2
TRANSIENT_BACKOFF = 0.5


def internal_error(request_id: str) -> ProxyError:
    """Our own failure: a 500 that names the request, so its log lines can be found. No account pays."""
    return ProxyError(500, f"internal error in the proxy (request {request_id}); the log says more",
                      code="internal_server_error", type="server_error", outcome=Outcome.INTERNAL)


@dataclass(slots=True)
class RetryBudget:
    """How much more one call may try once a round of accounts is spent.

    ``max_accounts`` bounds the distinct accounts of one round (``max-retry-credentials``, 0 = all).
    ``rounds`` waiting rounds (``request-retry``) each wait for the soonest account to come back, when
    that is within ``max_wait`` seconds (``max-retry-interval``; 0 = never wait), as CLIProxyAPI does.
    Apart from those, a transient failure of the upstream is retried on the same account after a
    short backoff when no other account is left, so one blip never reaches a one-account user.
    """

    max_accounts: int = 0
    rounds: int = 0
    max_wait: float = 0.0
    transient: int = TRANSIENT_RETRIES

    @classmethod
    def of(cls, config: Config) -> RetryBudget:
        return cls(config.max_retry_credentials, config.request_retry, float(config.max_retry_interval))

    def more_accounts(self, tried: int) -> bool:
        return not self.max_accounts or tried < self.max_accounts

    def backoff(self, exhausted: Exhausted | None, last_error: ProxyError | None) -> float | None:
        """Seconds to wait before trying the accounts already tried once more, after the upstream's
        blip with no other account left (none ready, or the account budget spent); else None.

        Never sooner than the upstream asked (``Retry-After``): a retry before then meets the same
        answer. A wait longer than the backoff's own is made only within ``max_wait``; else the
        client is told, with the upstream's time, and retries when it chooses.
        """
        if last_error is None or last_error.blame is not Blame.UPSTREAM or self.transient <= 0 or (
                exhausted is not None and not exhausted.shortage.tried):
            return None
        step = TRANSIENT_RETRIES - self.transient
        seconds = TRANSIENT_BACKOFF * 2.0**step * random.uniform(0.5, 1.0)
        asked = last_error.retry_after or 0.0
        if asked > seconds:
            if asked > max(self.max_wait, TRANSIENT_BACKOFF * 2.0 ** (TRANSIENT_RETRIES - 1)):
                return None
            seconds = asked
        self.transient -= 1
        return seconds

    def wait(self, exhausted: Exhausted | None, last_error: ProxyError | None) -> float | None:
        """Seconds to wait before a new round with every account, or None: the call ends with its error."""
        if self.rounds <= 0 or self.max_wait <= 0 or (last_error is not None and last_error.blame is Blame.REQUEST):
            return None
        soonest = exhausted.shortage.soonest_wait() if exhausted is not None else last_error_wait(last_error)
        if soonest is None or soonest > self.max_wait:
            return None
        self.rounds -= 1
        return soonest


def last_error_wait(error: ProxyError | None) -> float | None:
    """A 429's own Retry-After, when the round ended on the account budget rather than the pool."""
    if error is None or error.status != 429 or error.retry_after is None:
        return None
    return error.retry_after


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
        sink = _CollectSink(result)
        await self._execute(call, sink)
        assert sink.response is not None
        return sink.response

    async def stream(self, call: Call, result: CallResult) -> AsyncIterator[bytes]:
        """The client's bytes. Raises ProxyError only before its first yield (not yet committed);
        a keepalive goes out after the snapshot's ``streaming.keepalive-seconds`` of silence."""
        translator = call.dialect.stream_translator(call.request)
        channel = _Channel(call.config.limits.client_buffer_bytes)
        task = asyncio.create_task(self._pump(call, _StreamSink(translator, channel, call, result), channel))
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

    async def _pump(self, call: Call, sink: _StreamSink, channel: _Channel) -> None:
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

    async def _execute(self, call: Call, sink: _Sink) -> None:
        await self._each_account(call, sink.result, lambda credential: self._attempt(call, credential, sink),
                                 lambda: sink.content_sent)

    async def compact(self, call: Call) -> tuple[int, bytes]:
        """``/responses/compact``: the same account choice and failover, one JSON answer."""
        answers: list[tuple[int, bytes]] = []

        async def attempt(credential: Credential) -> ProxyError | None:
            try:
                answers.append(await self._upstream.compact(credential, call.upstream_request(credential)))
            except ProxyError as err:
                return err
            return None

        await self._each_account(call, CallResult(), attempt, lambda: False)
        return answers[-1]

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
        again: set[str] | None = None  # after a backoff: the accounts to try again, and no other
        while True:
            exhausted: Exhausted | None = None
            if again is not None or budget.more_accounts(len(tried)):
                exclude = tried if again is None else {c.id for c in call.candidates} - again
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
            again = set(tried) if backoff is not None else None
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

    async def _attempt(self, call: Call, credential: Credential, sink: _Sink) -> ProxyError | None:
        request = call.upstream_request(credential, sink.by_name_only)
        try:
            async with self._upstream.stream(credential, request) as upstream:
                self._pool.observe_headers(credential, upstream.headers)
                sink.begin_attempt(credential)
                await self._relay(upstream.batches(), sink, call, credential)
        except ProxyError as err:
            return err
        return None

    async def _relay(self, batches: AsyncIterator[Batch], sink: _Sink,
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
