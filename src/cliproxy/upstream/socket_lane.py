"""One client WebSocket's way to the backend's own WebSocket, as Codex CLI has it with chatgpt.com.

A ``SocketLane`` lives as long as one client socket and holds at most one upstream socket, opened
on the account that serves a turn and kept for the next turns the pool gives that account (its
affinity keeps a session there). Each turn hands the runner a ``SocketTurn``: an ``Upstream`` that
sends over the socket when the attempt's account is the lane's (or may open one), and over HTTP
otherwise, so the runner's account choice, failover, outcome records and quota view are those of
every other request.

On the socket a follow-up goes as Codex sent it — ``previous_response_id`` and only the new items —
when it follows the answer last completed on that same socket; anything else (the first turn, a
turn after a reconnect or after HTTP served the last one, a client-side compaction) goes as the
whole conversation, which the backend accepts on any socket. Once the socket failed within a turn,
the turn's further attempts go over HTTP with the whole conversation: the runner then fails over
before content, or sends one error frame after it, as it does for every stream. A socket that
failed, or whose answer was not read to its end, is closed; the next turn opens a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.responses.events import TERMINAL_TYPES
from cliproxy.responses.reader import Batch
from cliproxy.upstream.classify import classify_http_error
from cliproxy.upstream.codex import OpenStream, Upstream
from cliproxy.upstream.egress import chosen_proxy
from cliproxy.upstream.request import UpstreamRequest, build_headers, prepare_body
from cliproxy.upstream.transport.websocket import BETA, SocketUnavailable, dropped, open_socket, socket_url

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

CREATE = "response.create"
HTTP_ONLY = ("content-type", "accept", "accept-encoding")  # the handshake is a GET with its own


@dataclass(frozen=True, slots=True)
class Incremental:
    """A follow-up as the client sent it: the new items only, after ``previous_response_id``."""

    items: list[Any]
    previous_response_id: str


def socket_headers(credential: Credential, request: UpstreamRequest, beta_features: str) -> dict[str, str]:
    """The HTTP request's headers (the client's turn-state and metadata headers pass through, the
    account's come last), plus the beta flag the backend's socket needs."""
    headers = build_headers(credential, request)
    for name in HTTP_ONLY:
        headers.pop(name, None)
    if "responses_websockets=" not in headers.get("openai-beta", ""):
        headers["openai-beta"] = BETA
    if beta_features:
        headers.setdefault("x-codex-beta-features", beta_features)
    return headers


class _Socket:
    """An open upstream socket, its account, and the answer a follow-up on it may name."""

    def __init__(self, connection: ClientConnection, credential: Credential, headers: dict[str, str]) -> None:
        self.connection, self.credential = connection, credential
        self.handshake_headers: dict[str, str] = headers  # handed to the pool once, with the first answer
        self.last_response_id: str | None = None


class SocketLane:
    """At most one upstream socket for one client socket (see the module docstring)."""

    def __init__(self, http: Upstream, config: Callable[[], Config]) -> None:
        self.http, self._config = http, config
        self._socket: _Socket | None = None
        self._http_only: set[str] = set()  # accounts whose way out cannot carry a socket (426, SOCKS)

    @property
    def account(self) -> Credential | None:
        """The account of the open socket, if one is open."""
        return None if self._socket is None else self._socket.credential

    def turn(self, incremental: Incremental | None) -> SocketTurn:
        return SocketTurn(self, incremental)

    def may_use_socket(self, credential: Credential) -> bool:
        return credential.websockets and credential.id not in self._http_only

    async def send(self, credential: Credential, request: UpstreamRequest,
                   incremental: Incremental | None) -> SocketStream:
        """Send one ``response.create``; a reused socket found closed is replaced once (the whole
        conversation then goes on the new one)."""
        from websockets.exceptions import ConnectionClosed

        socket, fresh = await self._socket_for(credential, request)
        try:
            await socket.connection.send(self._frame(socket, credential, request, incremental), text=True)
        except ConnectionClosed as closed:
            await self.discard()
            if fresh:
                raise dropped(closed, self.message_limit()) from None
            return await self.send(credential, request, None)
        headers, socket.handshake_headers = socket.handshake_headers, {}
        return SocketStream(self, socket, headers)

    async def _socket_for(self, credential: Credential, request: UpstreamRequest) -> tuple[_Socket, bool]:
        if self._socket is not None and self._socket.credential.id == credential.id:
            return self._socket, False
        await self.discard()
        config = self._config()
        headers = socket_headers(credential, request, config.codex_header_defaults.beta_features)
        try:
            connection, answer = await open_socket(
                socket_url(credential.base_url), headers, chosen_proxy(credential.proxy_url, config.proxy_url),
                config.upstream, config.limits.websocket_message_bytes)
        except SocketUnavailable:
            self._http_only.add(credential.id)
            raise
        self._socket = _Socket(connection, credential, answer)
        return self._socket, True

    @staticmethod
    def _frame(socket: _Socket, credential: Credential, request: UpstreamRequest,
               incremental: Incremental | None) -> bytes:
        body = prepare_body(credential, request)
        if incremental is not None and incremental.previous_response_id == socket.last_response_id:
            body["input"] = incremental.items
            body["previous_response_id"] = incremental.previous_response_id
        return orjson.dumps({"type": CREATE, **body})

    def read_timeout(self) -> float:
        return self._config().upstream.read_timeout_seconds

    def message_limit(self) -> int:
        return self._config().limits.websocket_message_bytes

    async def discard(self) -> None:
        """Close the socket (its state is unknown or its account changed); the next turn opens another."""
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.connection.close()

    aclose = discard


class SocketStream:
    """One answer read from the socket: its events, one frame each, up to the terminal one."""

    def __init__(self, lane: SocketLane, socket: _Socket, headers: Mapping[str, str]) -> None:
        self._lane, self._socket = lane, socket
        self.headers = headers
        self.finished = False  # read to its terminal event: the socket may serve the next turn

    async def batches(self) -> AsyncIterator[Batch]:
        connection = self._socket.connection
        while True:
            event, raw = await self._next(connection)
            event_type = event.get("type")
            if event_type == "error" and isinstance(event.get("status"), int):
                raise _error_frame(event)
            yield [(event, raw)]
            if event_type in TERMINAL_TYPES:
                response = event.get("response")
                self._socket.last_response_id = response.get("id") if isinstance(response, dict) else None
                self.finished = True
                return

    async def _next(self, connection: ClientConnection) -> tuple[dict[str, Any], bytes]:
        """The next message, parsed; a close or ``upstream.read-timeout-seconds`` of silence is a cut."""
        from websockets.exceptions import ConnectionClosed

        seconds = self._lane.read_timeout()
        try:
            async with asyncio.timeout(seconds):
                raw = await connection.recv(decode=False)
        except ConnectionClosed as closed:
            raise dropped(closed, self._lane.message_limit()) from None
        except TimeoutError:
            raise ProxyError(502, f"stream disconnected before completion: the Codex backend's WebSocket sent "
                             f"nothing for {seconds:g} s", code="stream_disconnected", type="server_error",
                             outcome=Outcome.DISCONNECTED) from None
        return _parsed(raw), raw


def _parsed(raw: bytes) -> dict[str, Any]:
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        event = None
    if not isinstance(event, dict):
        raise ProxyError(502, "the Codex backend sent a WebSocket message that is not a JSON object",
                         code="upstream_error", outcome=Outcome.SERVER_ERROR)
    return event


def _error_frame(event: dict[str, Any]) -> ProxyError:
    """``{"type":"error","status":N,"error":{…},"headers":{…}}``: judged as the same HTTP answer."""
    headers = event.get("headers")
    headers = {str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    return classify_http_error(event["status"], orjson.dumps({"error": event.get("error")}), headers)


class SocketTurn:
    """The ``Upstream`` of one turn: the lane's socket where it may serve, HTTP elsewhere."""

    def __init__(self, lane: SocketLane, incremental: Incremental | None) -> None:
        self._lane, self._incremental = lane, incremental
        self._socket_failed = False  # then the turn's further attempts go over HTTP

    def stream(self, credential: Credential, request: UpstreamRequest) -> AbstractAsyncContextManager[OpenStream]:
        if self._socket_failed or not self._lane.may_use_socket(credential):
            return self._lane.http.stream(credential, request)
        return self._over_socket(credential, request)

    @asynccontextmanager
    async def _over_socket(self, credential: Credential, request: UpstreamRequest) -> AsyncIterator[OpenStream]:
        try:
            opened = await self._lane.send(credential, request, self._incremental)
        except SocketUnavailable:
            async with self._lane.http.stream(credential, request) as over_http:
                yield over_http
            return
        except ProxyError:
            self._socket_failed = True
            raise
        try:
            yield opened
        finally:
            if not opened.finished:  # failed, or left unread (a hang-up): its state is unknown
                self._socket_failed = True
                await self._lane.discard()

    async def compact(self, credential: Credential, request: UpstreamRequest) -> tuple[int, bytes]:
        return await self._lane.http.compact(credential, request)


__all__ = ["Incremental", "SocketLane", "SocketStream", "SocketTurn", "socket_headers"]
