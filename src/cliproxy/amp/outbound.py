"""A request of one of the Amp routes, passed on to the Amp upstream with the caller's Amp key.

Shared by the control plane, the browser pages and the provider routes' fallback. The request's
settings snapshot decides the upstream and the key; the client key the front door matched picks a
per-client key (``upstream-api-keys``) when one is mapped to it.
"""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response

from cliproxy.amp.forward import Outbound, forward, outbound_headers, scrub_query, target_url
from cliproxy.amp.module import AmpModule, AmpSettings
from cliproxy.errors import Outcome, ProxyError
from cliproxy.server.services import Services
from cliproxy.upstream.transport.headers import HeaderRefused

WRITE_SECONDS = 30.0


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def client_key(request: Request) -> str | None:
    key = request.scope.get("state", {}).get("client_key")
    return key if isinstance(key, str) else None


def raw_path(request: Request) -> str:
    """The path as the client wrote it (percent-escapes kept), for a forward that changes nothing."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path


async def pass_on(request: Request, settings: AmpSettings, body: bytes, body_rewritten: bool) -> Response:
    """Forward the request as received (``body`` in place of its own) to ``settings.upstream``."""
    services = services_of(request)
    amp: AmpModule = services.amp
    config = services.holder.current.config
    key = client_key(request)
    try:
        headers = outbound_headers(request.headers, amp.upstream_secret(settings, key), body_rewritten)
    except HeaderRefused:
        raise ProxyError(500, "the proxy could not send this request to the Amp upstream (a header it refuses "
                         "to send; check the Amp keys in the config)", code="internal_server_error",
                         outcome=Outcome.INTERNAL) from None
    query = scrub_query(request.scope.get("query_string", b"").decode("latin-1"), key)
    outbound = Outbound(request.method, target_url(settings.upstream, raw_path(request), query), headers, body)
    up = config.upstream
    timeout = httpx.Timeout(connect=up.connect_timeout_seconds, read=up.read_timeout_seconds, write=WRITE_SECONDS,
                            pool=WRITE_SECONDS)
    return await forward(amp.client(config), outbound, timeout, config.limits.upstream_body_bytes)


__all__ = ["client_key", "pass_on", "raw_path", "services_of"]
