"""An in-process Codex backend at the ``CodexUpstream`` seam: scripted attempts, no sockets.

In the spirit of httpx's ``MockTransport``: ``FakeUpstream`` has ``CodexUpstream``'s ``stream`` and
``compact`` signatures, and each attempt plays the next script in order. A script is a
``ProxyError`` (the backend refused before streaming, e.g. a 401 or a 5xx) or a list of steps:
an event (a dict), a ``ProxyError`` (the connection breaks at that point), or ``Silence`` (the
backend says nothing for a while). Events go out as SSE bytes through the real stream reader, so
the by-name-only set of the request is honoured as on the wire.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from cliproxy.credential import Credential
from cliproxy.errors import ProxyError
from cliproxy.responses.reader import Batch, read_batches
from cliproxy.upstream.request import UpstreamRequest, build_headers, prepare_body


@dataclass(frozen=True)
class Silence:
    """The backend sends nothing for ``seconds``."""

    seconds: float


Step = dict[str, Any] | ProxyError | Silence
Script = ProxyError | Sequence[Step]


@dataclass(frozen=True)
class Sent:
    """One attempt as the backend received it."""

    credential: Credential
    request: UpstreamRequest
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def token(self) -> str:
        return self.headers["authorization"].removeprefix("Bearer ")


class FakeStream:
    """An open 200 answer: its headers, then the script's steps one network read each."""

    def __init__(self, steps: Sequence[Step], by_name_only: frozenset[bytes], headers: Mapping[str, str]) -> None:
        self.headers = headers
        self._steps, self._by_name_only = steps, by_name_only

    def batches(self) -> AsyncIterator[Batch]:
        return read_batches(self._chunks(), self._by_name_only)

    async def _chunks(self) -> AsyncIterator[bytes]:
        for step in self._steps:
            if isinstance(step, ProxyError):
                raise step
            if isinstance(step, Silence):
                await asyncio.sleep(step.seconds)
                continue
            yield b"event: " + step["type"].encode() + b"\ndata: " + orjson.dumps(step) + b"\n\n"


@dataclass
class FakeUpstream:
    """Plays one script per attempt, in order, and records what each attempt sent."""

    scripts: deque[Script] = field(default_factory=deque)
    sent: list[Sent] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def playing(cls, *scripts: Script) -> FakeUpstream:
        return cls(deque(scripts))

    def _next(self, credential: Credential, request: UpstreamRequest, stream: bool) -> Script:
        accept = "text/event-stream" if stream else "application/json"
        self.sent.append(Sent(credential, request, prepare_body(credential, request, stream=stream),
                              build_headers(credential, request, accept=accept)))
        if not self.scripts:
            raise AssertionError(f"attempt {len(self.sent)} has no script")
        return self.scripts.popleft()

    @asynccontextmanager
    async def stream(self, credential: Credential, request: UpstreamRequest) -> AsyncIterator[FakeStream]:
        script = self._next(credential, request, stream=True)
        if isinstance(script, ProxyError):
            raise script
        yield FakeStream(script, request.by_name_only, self.headers)

    async def compact(self, credential: Credential, request: UpstreamRequest) -> tuple[int, bytes]:
        script = self._next(credential, request, stream=False)
        if isinstance(script, ProxyError):
            raise script
        return 200, orjson.dumps(list(script))
