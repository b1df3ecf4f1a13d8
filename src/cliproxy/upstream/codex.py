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

import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import httpx
import orjson

from cliproxy.config.schema import DIRECT, Config
from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.responses.reader import MAX_EVENT_BYTES, Batch, read_batches
from cliproxy.upstream.classify import classify_http_error
from cliproxy.upstream.egress import chosen_proxy, client_options, ssl_context
from cliproxy.upstream.request import UpstreamRequest, build_headers, prepare_body
from cliproxy.upstream.transport.body import DirectBody, LimitExceeded
from cliproxy.upstream.transport.direct import DirectTransport
from cliproxy.upstream.transport.headers import HeaderRefused
from cliproxy.upstream.whole_body import read_whole


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

    def __init__(self, response: httpx.Response, by_name_only: frozenset[bytes] = frozenset(),
                 max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.response = response
        self.headers = response.headers
        self._by_name_only = by_name_only
        self._max_event_bytes = max_event_bytes

    async def batches(self) -> AsyncIterator[Batch]:
        """``(event, raw_json)`` pairs, one list per network read; events named in the request's
        ``by_name_only`` are not parsed. Transport failures become a DISCONNECTED ProxyError."""
        try:
            async for batch in read_batches(_body_chunks(self.response), self._by_name_only,
                                            self._max_event_bytes):
                yield batch
        except httpx.TransportError as exc:
            detail = str(exc) if isinstance(exc, LimitExceeded) else type(exc).__name__
            raise ProxyError(502, f"upstream connection failed: {detail}",
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
        self._egresses: dict[tuple[str, str, bool], _Egress] = {}

    def configure(self, config: Config) -> None:
        """A reloaded config: new settings apply to clients created from now on, and the
        ``limits:`` to every request from now on."""
        self._config = config
        for egress in self._egresses.values():
            if egress.direct is not None:
                egress.direct.configure(config.limits)

    def client_for(self, credential: Credential) -> httpx.AsyncClient:
        return self.client_for_egress(credential.proxy_url)

    def client_for_egress(self, proxy_url: str = "") -> httpx.AsyncClient:
        """The pooled client of one egress; ``""`` = the config's ``proxy-url`` (requests made with
        no account of ours, such as a caller's own ChatGPT backend request relayed as is)."""
        return self._egress(proxy_url).client

    def _egress(self, proxy_url: str) -> _Egress:
        """The egress of a proxy and the trust in force: a reloaded ``proxy-url``, ``ca-file`` or
        ``system-trust`` gets a new client; the old one stays for the requests that use it."""
        proxy = chosen_proxy(proxy_url, self._config.proxy_url)
        up = self._config.upstream
        key = (proxy, up.ca_file, up.system_trust)
        egress = self._egresses.get(key)
        if egress is None:
            egress = self._egresses[key] = self._new_egress(proxy)
        return egress

    def _new_egress(self, proxy: str) -> _Egress:
        up = self._config.upstream
        timeout = httpx.Timeout(connect=up.connect_timeout_seconds, read=up.read_timeout_seconds,
                                write=30.0, pool=30.0)
        fast = self._fast_transport(proxy)
        client = httpx.AsyncClient(
            **client_options(proxy, up),
            http2=up.http2,
            timeout=timeout,
            transport=fast,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=up.max_idle_connections,
                                keepalive_expiry=60),
        )
        return _Egress(client, fast, timeout.as_dict())

    def _fast_transport(self, proxy: str) -> DirectTransport | None:
        """Our transport (upstream/transport/direct.py, http1.py and http2.py say why) for every direct connection:
        HTTP/1.1, or HTTP/2 where a TLS server picks it and ``upstream.http2`` is on. Through a
        proxy, from the config or the environment, httpx's own transport."""
        if (proxy and proxy not in DIRECT) or (not proxy and _environment_proxies()):
            return None
        up = self._config.upstream
        return DirectTransport(up.max_idle_connections, ssl_context(up, environment=not proxy), http2=up.http2,
                               limits=self._config.limits)

    @asynccontextmanager
    async def stream(self, credential: Credential, request: UpstreamRequest) -> AsyncIterator[UpstreamStream]:
        """POST ``{base}/responses``; a non-2xx answer or a transport error raises ProxyError."""
        content = orjson.dumps(prepare_body(credential, request))
        response = await self._open(credential, credential.base_url + "/responses", content,
                                    build_headers(credential, request))
        limits = self._config.limits
        try:
            if response.status_code >= 400:
                payload = await self._read_whole(response)
                raise classify_http_error(response.status_code, payload, response.headers, time.time())
            yield UpstreamStream(response, request.by_name_only, limits.sse_event_bytes)
        finally:
            await response.aclose()

    async def _read_whole(self, response: httpx.Response) -> bytes:
        """An answer read whole within ``limits.upstream-body-bytes``; a cut is a transport error."""
        try:
            return await read_whole(response, self._config.limits.upstream_body_bytes)
        except httpx.TransportError as exc:
            raise _transport_error(exc) from None

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
        sent = client.build_request("POST", credential.base_url + "/responses/compact", content=content,
                                    headers=headers)
        try:
            response = await client.send(sent, stream=True)
        except httpx.TransportError as exc:
            raise _transport_error(exc) from None
        try:
            body = await self._read_whole(response)
        finally:
            await response.aclose()
        if response.status_code >= 400:
            raise classify_http_error(response.status_code, body, response.headers, time.time())
        return response.status_code, body

    async def aclose(self) -> None:
        for egress in self._egresses.values():
            await egress.client.aclose()  # its transport is ours when direct: closed with it
        self._egresses.clear()


def _environment_proxies() -> bool:
    """Whether httpx would route some request through a proxy named in the environment."""
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


def _certificate_refusal(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The verification failure behind a failed connect, if that is what it was: the one cause a user
    fixes in the config rather than by waiting."""
    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; a loop in one must not hang us
        if seen is None or isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _transport_error(exc: httpx.TransportError) -> ProxyError:
    """A failed exchange. A local protocol error (a header we refuse to send) is ours, never the
    account's; a limit hit names its key; anything else is a cut or unreachable upstream."""
    if isinstance(exc, httpx.LocalProtocolError):  # only our own refusal's text is known to quote no value
        detail = str(exc) if isinstance(exc, HeaderRefused) else type(exc).__name__
        return ProxyError(500, f"the proxy could not send this request to the Codex backend: {detail}",
                          code="internal_server_error", outcome=Outcome.INTERNAL)
    refused = _certificate_refusal(exc)
    if refused is not None:
        return ProxyError(502, f"connection to the Codex backend failed ({type(exc).__name__}): its TLS certificate "
                          f"was not trusted ({refused.verify_message}). If a proxy or firewall re-signs TLS, name "
                          "its CA in `upstream.ca-file`, or set `upstream.system-trust: true` to use the system's "
                          "store", code="upstream_unreachable", outcome=Outcome.DISCONNECTED)
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    detail = type(exc).__name__
    if isinstance(exc, LimitExceeded | httpx.PoolTimeout):  # their text names the limit, never a value
        detail += f": {exc}"
    return ProxyError(502, f"connection to the Codex backend {kind} ({detail})",
                      code="upstream_unreachable", outcome=Outcome.DISCONNECTED)
