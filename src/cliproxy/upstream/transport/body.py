"""What the direct transport and its two connection kinds share: the pool key, the response body
stream, and the error that says a request may safely go again."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import httpx

log = logging.getLogger(__name__)

KEEPALIVE_EXPIRY_SECONDS = 60.0
PoolKey = tuple[str, str, int]  # scheme, host, port
Timeouts = Mapping[str, float | None]  # httpx.Timeout.as_dict(): connect, read, write, pool


class NotProcessed(httpx.ReadError):
    """The server provably did not process the request (HTTP/2: GOAWAY above its stream,
    REFUSED_STREAM, or an idle connection closed as it went out): safe to send once more."""


class LimitExceeded(httpx.RemoteProtocolError):
    """The upstream sent more than a ``limits:`` key allows; the message names the key to raise."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(f"{message} (limits.{key})")
        self.key = key


def limit_exceeded(what: str, limit: int, key: str) -> LimitExceeded:
    """The error for one limit hit, logged once here with the key that raises it."""
    error = LimitExceeded(f"{what} over the limit of {limit}", key)
    log.warning("upstream refused: %s; raise limits.%s if this upstream is trusted", error, key)
    return error


class BodySource(Protocol):
    """What a body is read from: an HTTP/1.1 connection, or one HTTP/2 stream."""

    complete: bool

    def has_body(self) -> bool: ...

    def take_body(self) -> bytes: ...

    async def wait(self, timeout: float | None) -> None: ...


class DirectBody(httpx.AsyncByteStream):
    """A response body from this transport, HTTP/1.1 or HTTP/2: one joined chunk per network read.
    Callers may iterate it as is: there is no decoding layer between it and the network."""

    def __init__(self, source: BodySource, read_timeout: float | None) -> None:
        self._source, self._timeout = source, read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        source = self._source
        while True:
            if source.has_body():
                yield source.take_body()
            elif source.complete:
                return
            else:
                await source.wait(self._timeout)
