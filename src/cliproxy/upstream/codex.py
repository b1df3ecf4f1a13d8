"""The Codex backend request: URL, headers, body rules, the SSE stream in, failures classified.

One ``CodexUpstream`` lives as long as the server; it keeps one pooled httpx client per egress
(proxy URL): direct connections on our own transport (HTTP/1.1 on llhttp, HTTP/2 on h2),
httpx's own through a proxy.
It knows nothing about dialects or accounts' state: it sends what it is given with the
credential it is given and reports what happened.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from cliproxy.config.schema import Config
from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError
from cliproxy.responses.blob import looks_like_codex_blob
from cliproxy.responses.reader import read_batches
from cliproxy.upstream.classify import classify_http_error
from cliproxy.upstream.transport.body import DirectBody
from cliproxy.upstream.transport.direct import DirectTransport

DEFAULT_USER_AGENT = "codex-tui/0.135.0 (Mac OS 26.5.0; arm64) iTerm.app/3.6.10 (codex-tui; 0.135.0)"
DEFAULT_ORIGINATOR = "codex-tui"

# Client headers forwarded unchanged (proxy.md §3.2 Decision, plus what Codex CLI 0.169 sends).
PASS_THROUGH_HEADERS = frozenset(
    {
        "session_id",
        "session-id",
        "conversation_id",
        "thread-id",
        "x-client-request-id",
        "x-openai-subagent",
        "openai-beta",
        "version",
        "originator",
        "x-openai-internal-codex-responses-lite",
    }
)
PASS_THROUGH_PREFIXES = ("x-codex-",)
NEVER_FORWARD = frozenset({"authorization", "x-api-key", "cookie", "host", "x-goog-api-key"})

# Fields the backend rejects or that make no sense with store:false (proxy.md §3.3 step 5).
ALWAYS_REMOVED = ("previous_response_id", "prompt_cache_retention", "safety_identifier", "stream_options")
IMAGE_TOOL: dict[str, Any] = {"type": "image_generation", "output_format": "png"}
# Dialects whose requests get the hosted image tool; never a Responses client's own request.
IMAGE_TOOL_DIALECTS = frozenset({"openai", "completions", "claude", "gemini"})


def forwarded_headers(client_headers: Mapping[str, str]) -> dict[str, str]:
    """The client headers that pass through to the backend unchanged."""
    out: dict[str, str] = {}
    for name, value in client_headers.items():
        lowered = name.lower()
        if lowered in NEVER_FORWARD:
            continue
        if lowered in PASS_THROUGH_HEADERS or lowered.startswith(PASS_THROUGH_PREFIXES):
            out[lowered] = value
    return out


def build_headers(credential: Credential, client_headers: Mapping[str, str], config: Config,
                  prompt_cache_key: str | None, accept: str = "text/event-stream") -> dict[str, str]:
    """Headers of proxy.md §3.2: the client's own values win over defaults; credential headers last."""
    headers = forwarded_headers(client_headers)
    headers["content-type"] = "application/json"
    headers["accept"] = accept
    headers["accept-encoding"] = "identity"  # SSE: every event as it comes, no decompression pass
    headers["authorization"] = f"Bearer {credential.access_token}"
    client_ua = client_headers.get("user-agent", "")
    if credential.kind == "oauth":
        headers["user-agent"] = config.codex_header_defaults.user_agent or client_ua or DEFAULT_USER_AGENT
        headers.setdefault("originator", DEFAULT_ORIGINATOR)
        if credential.account_id:
            headers["chatgpt-account-id"] = credential.account_id
    else:
        headers["user-agent"] = client_ua or DEFAULT_USER_AGENT
    if prompt_cache_key and "session_id" not in headers and "session-id" not in headers:
        headers["session_id"] = prompt_cache_key
    for name, value in credential.headers:
        headers[name.lower()] = value
    return headers


def _strip_bad_reasoning_blobs(items: Iterable[Any]) -> None:
    """Step 8: a reasoning item keeps its place, but an invalid ``encrypted_content`` is dropped."""
    for item in items:
        if isinstance(item, dict) and item.get("type") == "reasoning" and "encrypted_content" in item:
            blob = item["encrypted_content"]
            if not (isinstance(blob, str) and looks_like_codex_blob(blob)):
                del item["encrypted_content"]


def wants_image_tool(dialect: str, upstream_model: str, credential: Credential, config: Config) -> bool:
    return (
        dialect in IMAGE_TOOL_DIALECTS
        and not config.image_generation_disabled
        and not upstream_model.endswith("spark")
        and credential.plan != "free"
    )


def prepare_body(body: dict[str, Any], *, upstream_model: str, credential: Credential, dialect: str,
                 config: Config, stream: bool = True) -> dict[str, Any]:
    """The common executor steps of proxy.md §3.3 (4–8, 10), on a copy of the translated body."""
    out = dict(body)
    out["model"] = upstream_model
    if stream:
        out["stream"] = True
    else:
        out.pop("stream", None)
    for key in ALWAYS_REMOVED:
        out.pop(key, None)
    if out.get("instructions") is None:
        out["instructions"] = ""
    if wants_image_tool(dialect, upstream_model, credential, config):
        tools = list(out.get("tools") or [])
        if not any(isinstance(t, dict) and t.get("type") == "image_generation" for t in tools):
            tools.append(dict(IMAGE_TOOL))
        out["tools"] = tools
    if isinstance(out.get("input"), list):
        _strip_bad_reasoning_blobs(out["input"])
    return out


@dataclass
class UpstreamEvent:
    """One upstream SSE event, parsed once: ``data`` for translators, ``raw`` for passthrough."""

    type: str
    data: dict[str, Any]
    raw: bytes


class UpstreamStream:
    """An open 200 response from ``/responses``: its headers and its events, parsed once."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.headers = response.headers

    async def batches(self, by_name_only: frozenset[bytes] = frozenset(),
                      ) -> AsyncIterator[list[tuple[dict[str, Any], bytes]]]:
        """``(event, raw_json)`` pairs, one list per network read (``by_name_only``: see
        ``read_batches``). Transport failures become a DISCONNECTED ProxyError."""
        try:
            async for batch in read_batches(_body_chunks(self.response), by_name_only):
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
    async def stream(self, credential: Credential, body: dict[str, Any],
                     headers: dict[str, str]) -> AsyncIterator[UpstreamStream]:
        """POST ``{base}/responses``; a non-2xx answer or a transport error raises ProxyError."""
        response = await self._open(credential, credential.base_url + "/responses", orjson.dumps(body), headers)
        try:
            if response.status_code >= 400:
                payload = await response.aread()
                raise classify_http_error(response.status_code, payload, response.headers, time.time())
            yield UpstreamStream(response)
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

    async def compact(self, credential: Credential, body: dict[str, Any],
                      headers: dict[str, str]) -> tuple[int, bytes]:
        """POST ``{base}/responses/compact``: the one non-streaming upstream call (JSON in and out)."""
        client = self.client_for(credential)
        try:
            response = await client.post(credential.base_url + "/responses/compact",
                                         content=orjson.dumps(body), headers=headers)
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
