"""The streamed answer ends what belongs to its request however it ends — also when the client is
gone before the first byte could be written, where the body generator never starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.types import Message

from cliproxy.server.event_stream import EventStream


class Ended:
    def __init__(self) -> None:
        self.started = self.closed = False

    async def body(self) -> AsyncIterator[bytes]:
        self.started = True
        yield b"data: x\n\n"

    async def close(self) -> None:
        self.closed = True


async def test_a_client_gone_before_the_head_is_written_still_ends_the_request() -> None:
    ended = Ended()

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        raise OSError("the client went away")  # the first write fails: the body never starts

    with pytest.raises(OSError):
        await EventStream(ended.body(), closing=ended.close)({"type": "http"}, receive, send)
    assert not ended.started and ended.closed


async def test_a_whole_answer_is_sent_and_then_closed() -> None:
    ended, sent = Ended(), []

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client stays: nothing more arrives
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await EventStream(ended.body(), closing=ended.close)({"type": "http"}, receive, send)
    assert ended.started and ended.closed
    assert sent[1]["body"] == b"data: x\n\n"
