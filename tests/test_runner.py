"""The runner's streaming rule, driven in-process: a real Runner and Pool over a scripted upstream.

Each story gives the backend's answers attempt by attempt (``FakeUpstream``), lets a Responses
client stream or wait for one request, and checks what that client received and which accounts
the attempts went to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
from typing import Any

import orjson
import pytest

from cliproxy.config.load import parse_config
from cliproxy.credential import Credential
from cliproxy.dialects.openai_responses import DIALECT
from cliproxy.errors import Outcome, ProxyError
from cliproxy.pool.core import Pool
from cliproxy.runner import Call, CallResult, Runner
from cliproxy.upstream.classify import classify_http_error, disconnected
from tests.fakes.codex_events import completed, message_events, preamble, text_stream
from tests.fakes.upstream import FakeUpstream, Silence
from tests.pool.helpers import cred

MODEL = "gpt-5.4"
SERVER_ERROR = classify_http_error(503, b'{"error":{"message":"overloaded","code":"server_is_overloaded"}}', {})
EXPIRED_TOKEN = classify_http_error(401, b'{"error":{"message":"Your authentication token has expired.",'
                                         b'"code":"token_expired"}}', {})
BAD_REQUEST = classify_http_error(400, b'{"error":{"message":"Invalid input","type":"invalid_request_error"}}', {})
CUT = disconnected("connection reset by peer")


def answer(response_id: str, parts: list[str]) -> list[dict[str, Any]]:
    """One whole streamed answer whose events all name ``response_id``."""
    return [*preamble(MODEL, response_id), *message_events(parts), completed(MODEL, response_id=response_id)]


def make_call(*accounts: Credential, keepalive: float = 0.0, stream: bool = True) -> Call:
    request = DIALECT.translate_request({"model": MODEL, "input": "hi", "stream": stream}, {})
    config = parse_config({"streaming": {"keepalive-seconds": keepalive}})
    return Call(dialect=DIALECT, request=request, model_id=MODEL, candidates=accounts,
                upstream_name=lambda credential: MODEL, client_headers={}, config=config)


def make_runner(upstream: FakeUpstream, *accounts: Credential, refresh: Any = None) -> Runner:
    return Runner(upstream, Pool(accounts), refresh)


async def client_stream(runner: Runner, call: Call, result: CallResult) -> list[bytes]:
    return [chunk async for chunk in runner.stream(call, result)]


def sse_events(chunks: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` for each SSE event the client got; keepalive comments left out."""
    events = []
    for frame in b"".join(chunks).split(b"\n\n"):
        if not frame or frame.startswith(b":"):
            continue
        head, _, data = frame.partition(b"\ndata: ")
        events.append((head.removeprefix(b"event: ").decode(), orjson.loads(data)))
    return events


def text_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["delta"] for name, data in events if name == "response.output_text.delta")


async def test_a_failure_before_any_event_fails_over_and_the_client_sees_only_the_second_answer() -> None:
    # Given two accounts, and a backend that refuses the first attempt with a 503
    a, b = cred("a"), cred("b")
    upstream = FakeUpstream.playing(SERVER_ERROR, answer("resp_2", ["Hel", "lo"]))
    runner, call, result = make_runner(upstream, a, b), make_call(a, b), CallResult()

    # When a client streams a request
    events = sse_events(await client_stream(runner, call, result))

    # Then it sees the second attempt's answer alone, served by the other account
    assert {data["response"]["id"] for name, data in events if "response" in data} == {"resp_2"}
    assert text_of(events) == "Hello"
    assert [name for name, _ in events].count("response.created") == 1
    assert upstream.sent[0].credential.id != upstream.sent[1].credential.id
    assert result.credential is not None and result.credential.id == upstream.sent[1].credential.id
    assert result.error is None


async def test_preamble_events_already_sent_are_not_sent_again_after_a_failover() -> None:
    # Given a first attempt that sends its preamble and then breaks before any content
    a, b = cred("a"), cred("b")
    upstream = FakeUpstream.playing([*preamble(MODEL, "resp_1"), CUT], answer("resp_2", ["Hel", "lo"]))
    runner, call, result = make_runner(upstream, a, b), make_call(a, b), CallResult()

    # When a client streams a request
    names = [name for name, _ in sse_events(await client_stream(runner, call, result))]

    # Then it sees one preamble and one whole answer, as if there had been a single attempt
    assert names.count("response.created") == 1
    assert names.count("response.in_progress") == 1
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-1] == "response.completed"
    assert len(upstream.sent) == 2


async def test_a_failure_after_content_is_one_error_event_then_the_end() -> None:
    # Given a first attempt that breaks after some text reached the client, and a second account free
    a, b = cred("a"), cred("b")
    upstream = FakeUpstream.playing([*preamble(MODEL), *message_events(["Hel", "lo"])[:3], CUT],
                                    answer("resp_2", ["never sent"]))
    runner, call, result = make_runner(upstream, a, b), make_call(a, b), CallResult()

    # When a client streams a request
    events = sse_events(await client_stream(runner, call, result))

    # Then it keeps the text it got, then exactly one error event ends the stream; no retry is made
    names = [name for name, _ in events]
    assert text_of(events) == "Hel"
    assert names.count("error") == 1 and names[-1] == "error"
    assert "stream disconnected" in events[-1][1]["message"]
    assert len(upstream.sent) == 1
    assert result.error is not None and result.error.outcome is Outcome.DISCONNECTED


async def test_a_401_refreshes_the_token_and_retries_on_the_same_account() -> None:
    # Given an account whose token the backend no longer accepts, and an issuer that grants a new one
    a, b = cred("a"), cred("b")
    refreshed: list[Credential] = []

    async def refresh(credential: Credential) -> Credential:
        refreshed.append(credential)
        return dataclasses.replace(credential, access_token=credential.access_token + "-new")

    upstream = FakeUpstream.playing(EXPIRED_TOKEN, text_stream())
    runner, call, result = make_runner(upstream, a, b, refresh=refresh), make_call(a, b), CallResult()

    # When a client streams a request
    events = sse_events(await client_stream(runner, call, result))

    # Then the token is refreshed once and the same account answers with the new token
    first, retry = upstream.sent
    assert [c.id for c in refreshed] == [first.credential.id]
    assert retry.credential.id == first.credential.id
    assert retry.token == first.token + "-new"
    assert text_of(events) == "Hello"
    assert result.credential is not None and result.credential.access_token == retry.token


async def test_a_failure_that_is_the_requests_fault_is_an_http_error_before_the_commit() -> None:
    # Given two accounts and a backend that rejects the request itself
    a, b = cred("a"), cred("b")
    upstream = FakeUpstream.playing(BAD_REQUEST, text_stream())
    runner, call = make_runner(upstream, a, b), make_call(a, b)

    # When a client streams it
    with pytest.raises(ProxyError) as raised:
        await client_stream(runner, call, CallResult())

    # Then the client gets the real status before any byte, and no other account is tried
    assert raised.value.status == 400
    assert len(upstream.sent) == 1


async def test_a_keepalive_commits_the_stream_yet_a_silent_failure_still_fails_over() -> None:
    # Given a first attempt that stays silent past the keepalive interval and then breaks
    a, b = cred("a"), cred("b")
    upstream = FakeUpstream.playing([Silence(0.2), CUT], answer("resp_2", ["Hel", "lo"]))
    runner, call, result = make_runner(upstream, a, b), make_call(a, b, keepalive=0.05), CallResult()

    # When a client streams a request
    chunks = await client_stream(runner, call, result)

    # Then its first bytes are a keepalive, and the answer comes whole from the second account
    assert chunks[0] == DIALECT.stream_translator(call.request).keepalive
    assert text_of(sse_events(chunks)) == "Hello"
    assert result.error is None and len(upstream.sent) == 2


async def test_a_non_streaming_answer_has_its_output_rebuilt_and_its_usage_recorded() -> None:
    # Given a backend whose completed event carries an empty output, after a failed first attempt
    a, b = cred("a"), cred("b")
    upstream = FakeUpstream.playing(SERVER_ERROR, answer("resp_2", ["Hel", "lo"]))
    runner, call, result = make_runner(upstream, a, b), make_call(a, b, stream=False), CallResult()

    # When a client waits for the whole answer
    response = await runner.complete(call, result)

    # Then it gets the streamed message as output, and the usage is there for the usage history
    assert response["output"][0]["content"][0]["text"] == "Hello"
    assert result.usage["total_tokens"] == 15
    assert result.credential is not None and result.credential.id == upstream.sent[1].credential.id


class CountedSteps(list[Any]):
    """A script that counts how many of its steps the upstream has sent so far."""

    sent = 0

    def __iter__(self) -> Any:
        for step in super().__iter__():
            self.sent += 1
            yield step


async def test_a_client_that_stops_reading_pauses_the_upstream_read_and_still_gets_every_byte() -> None:
    # Given a long answer (200 deltas of 1 KiB) and a client buffer of 8 KiB
    parts = [f"{n:04d}" + "x" * 1020 for n in range(200)]
    steps = CountedSteps(answer("resp_1", parts))
    a = cred("a")
    call = dataclasses.replace(make_call(a), config=parse_config({"limits": {"client-buffer-bytes": 8192}}))
    runner, result = make_runner(FakeUpstream.playing(steps), a), CallResult()

    # When the client takes the first frame, then reads nothing for a while
    stream = runner.stream(call, result)
    first = [await anext(stream)]
    for _ in range(20):
        await asyncio.sleep(0.01)

    # Then the upstream read paused with most of the answer unsent
    assert steps.sent < 40
    # And once the client reads again, it gets the whole answer, in order
    events = sse_events(first + [chunk async for chunk in stream])
    assert text_of(events) == "".join(parts)
    assert steps.sent == len(steps)


async def test_max_retry_credentials_still_holds_after_a_same_account_backoff(monkeypatch: Any) -> None:
    """Given three accounts that all blip and max-retry-credentials: 2, when the runner retries after
    its backoff while other requests move the pool's turn, it still tries no more than two accounts."""
    accounts = tuple(Credential(id=f"a{i}", kind="api-key", access_token="t", base_url="x") for i in range(3))
    pool = Pool(accounts)
    config = types.SimpleNamespace(max_retry_credentials=2, request_retry=0, max_retry_interval=0,
                                   streaming=types.SimpleNamespace(bootstrap_retries=0))
    call = types.SimpleNamespace(config=config, candidates=accounts, model_id="m", session=None,
                                 candidates_key=None, dialect=types.SimpleNamespace(name="openai"))
    tried: list[str] = []

    async def attempt(credential: Credential) -> ProxyError:
        tried.append(credential.id)
        pool.pick(accounts, model="m")  # another request takes its turn meanwhile
        return ProxyError(502, "blip", outcome=Outcome.SERVER_ERROR)

    async def no_wait(seconds: float) -> None:
        return None

    monkeypatch.setattr("cliproxy.runner.core.asyncio.sleep", no_wait)
    with pytest.raises(ProxyError):
        await Runner(None, pool)._each_account(call, CallResult(), attempt, lambda: False)  # type: ignore[arg-type]
    assert len(tried) > 2 and len(set(tried)) == 2
