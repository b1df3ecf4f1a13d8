"""The streamed answer: Starlette's StreamingResponse, watched for a client that went away.

Starlette, under an ASGI 2.3 server such as uvicorn, runs each stream inside an anyio task group
with a second task listening for the disconnect. Per request, that machinery (cancel scopes,
weak sets, exception-group collapsing) cost ~5 % of a short stream's CPU in the benchmark
profile. The same watch is kept here with two plain asyncio tasks. A client that disconnects
still stops the stream at once, which cancels the upstream request: no quota spent for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class EventStream(StreamingResponse):
    """A ``text/event-stream`` answer that stops as soon as the client disconnects."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(self.stream_response(send))
        watching = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait((streaming, watching), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (streaming, watching):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            if not streaming.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await streaming
        if not streaming.cancelled():
            streaming.result()  # an error while streaming propagates as Starlette's would
        if self.background is not None:
            await self.background()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
