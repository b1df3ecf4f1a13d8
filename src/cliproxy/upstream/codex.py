"""The Codex backend: one attempt sent, the SSE stream in, failures classified.

One ``CodexUpstream`` lives as long as the server; it keeps one pooled httpx client per egress
(proxy URL): direct connections on our own transport (HTTP/1.1 on llhttp, HTTP/2 on h2),
httpx's own through a proxy.
It knows nothing about dialects or accounts' state: ``stream(credential, request)`` builds the
wire request from an ``UpstreamRequest`` (upstream/request.py), sends it with the credential it
is given and reports what happened. ``Upstream`` is that seam as a type, so the runner can be
driven by anything with the same two methods.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import httpx
import orjson

from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.responses.reader import Batch, read_batches
from cliproxy.upstream.classify import classify_http_error
from cliproxy.upstream.request import UpstreamRequest, build_headers, prepare_body
from cliproxy.upstream.transport.body import DirectBody
from cliproxy.upstream.transport.direct import DirectTransport


class OpenStream(Protocol):
    """An open stream of Responses events: the answer's headers, then its events in batches."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def batches(self) -> AsyncIterator[Batch]: ...


class Upstream(Protocol):
    """What the runner needs of the backend: one streamed attempt, one compaction."""

    def stream(self, credential: Credential, request: UpstreamRequest,
               ) -> AbstractAsyncContextManager[OpenStream]: ...

    async def compact(self, credential: Credential, request: UpstreamRequest) -> tuple[int, bytes]: ...


class UpstreamStream:
    """An open 200 response from ``/responses``: its headers and its events, parsed once."""

    def __init__(self, response: httpx.Response, by_name_only: frozenset[bytes] = frozenset()) -> None:
        self.response = response
        self.headers = response.headers
        self._by_name_only = by_name_only

    async def batches(self) -> AsyncIterator[Batch]:
        """``(event, raw_json)`` pairs, one list per network read; events named in the request's
        ``by_name_only`` are not parsed. Transport failures become a DISCONNECTED ProxyError."""
        try:
            async for batch in read_batches(_body_chunks(self.response), self._by_name_only):
                yield batch
        except httpx.TransportError as exc:
            raise ProxyError(502, f"upstream connection failed: {type(exc).__name__}",
                             code="stream_disconnected", outcome=Outcome.DISCONNECTED) from None


def _body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as the network delivered it. Our transport's stream is read as is; through httpx's
    client, the raw chunks unless a content coding needs its decoder."""
    if isinstance(response.stream, DirectBody):
        return aiter(response.stream)
    if response.headers.get("content-encoding", "identity").lower() in ("identity", ""):
        return response.aiter_raw()
    return response.aiter_bytes()


@dataclass
class _Egress:
    """The way out through one proxy (or none): httpx's client, and our transport when direct."""

    client: httpx.AsyncClient
    direct: DirectTransport | None  # our transport, for every request when the way out is direct
    timeout: dict[str, float | None]


class CodexUpstream:
    """Sends requests to the Codex backend; one pooled client per egress proxy."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._egresses: dict[str, _Egress] = {}

    def configure(self, config: Config) -> None:
        """A reloaded config: new settings apply to clients created from now on."""
        self._config = config

    def client_for(self, credential: Credential) -> httpx.AsyncClient:
        return self.client_for_egress(credential.proxy_url)

    def client_for_egress(self, proxy_url: str = "") -> httpx.AsyncClient:
        """The pooled client of one egress; ``""`` = the config's ``proxy-url`` (requests made with
        no account of ours, such as a caller's own ChatGPT backend request relayed as is)."""
        return self._egress(proxy_url).client

    def _egress(self, proxy_url: str) -> _Egress:
        proxy = proxy_url or self._config.proxy_url
        egress = self._egresses.get(proxy)
        if egress is None:
            egress = self._egresses[proxy] = self._new_egress(proxy)
        return egress

    def _new_egress(self, proxy: str) -> _Egress:
        up = self._config.upstream
        timeout = httpx.Timeout(connect=up.connect_timeout_seconds, read=up.read_timeout_seconds,
                                write=30.0, pool=30.0)
        direct = proxy in ("direct", "none")
        fast = self._fast_transport(proxy, direct)
        client = httpx.AsyncClient(
            http2=up.http2,
            timeout=timeout,
            proxy=None if direct or not proxy else proxy,
            trust_env=not direct and not proxy,
            transport=fast,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=up.max_idle_connections,
                                keepalive_expiry=60),
        )
        return _Egress(client, fast, timeout.as_dict())

    def _fast_transport(self, proxy: str, direct: bool) -> DirectTransport | None:
        """Our transport (upstream/direct.py, http1.py and http2.py say why) for every direct connection:
        HTTP/1.1, or HTTP/2 where a TLS server picks it and ``upstream.http2`` is on. Through a
        proxy, from the config or the environment, httpx's own transport."""
        if (proxy and not direct) or (not proxy and _environment_proxies()):
            return None
        return DirectTransport(self._config.upstream.max_idle_connections, http2=self._config.upstream.http2)

    @asynccontextmanager
    async def stream(self, credential: Credential, request: UpstreamRequest) -> AsyncIterator[UpstreamStream]:
        """POST ``{base}/responses``; a non-2xx answer or a transport error raises ProxyError."""
        content = orjson.dumps(prepare_body(credential, request))
        response = await self._open(credential, credential.base_url + "/responses", content,
                                    build_headers(credential, request))
        try:
            if response.status_code >= 400:
                payload = await response.aread()
                raise classify_http_error(response.status_code, payload, response.headers, time.time())
            yield UpstreamStream(response, request.by_name_only)
        finally:
            await response.aclose()

    async def _open(self, credential: Credential, url: str, content: bytes,
                    headers: dict[str, str]) -> httpx.Response:
        """Send and return once the head is in. A direct request goes straight to our transport:
        the client's auth, redirect and cookie steps cost ~10 % of a short stream's CPU (profile)
        and none applies to an API call with its own bearer."""
        egress = self._egress(credential.proxy_url)
        transport = egress.direct
        try:
            if transport is not None:
                return await transport.post(url, headers, content, egress.timeout)
            request = egress.client.build_request("POST", url, content=content, headers=headers)
            return await egress.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _transport_error(exc) from None

    async def compact(self, credential: Credential, request: UpstreamRequest) -> tuple[int, bytes]:
        """POST ``{base}/responses/compact``: the one non-streaming upstream call (JSON in and out)."""
        client = self.client_for(credential)
        content = orjson.dumps(prepare_body(credential, request, stream=False))
        headers = build_headers(credential, request, accept="application/json")
        try:
            response = await client.post(credential.base_url + "/responses/compact", content=content,
                                         headers=headers)
        except httpx.TransportError as exc:
            raise _transport_error(exc) from None
        if response.status_code >= 400:
            raise classify_http_error(response.status_code, response.content, response.headers, time.time())
        return response.status_code, response.content

    async def aclose(self) -> None:
        for egress in self._egresses.values():
            await egress.client.aclose()  # its transport is ours when direct: closed with it
        self._egresses.clear()


def _environment_proxies() -> bool:
    """Whether httpx would route some request through a proxy named in the environment."""
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


def _transport_error(exc: httpx.TransportError) -> ProxyError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return ProxyError(502, f"connection to the Codex backend {kind} ({type(exc).__name__})",
                      code="upstream_unreachable", outcome=Outcome.DISCONNECTED)
