"""Amp's control plane (``/api/internal?<rpc>``, ``/api/user``, ``/api/threads``, …) and its browser pages.

With an Amp upstream configured these go to it as they are, with the caller's Amp key: account,
threads, telemetry and credits are ampcode.com's business. Without one, the RPCs classic Amp makes
on every run are answered here with the least that lets a local-only user work: a local user with
no features, "thread not found" for a thread Amp asks back (it then keeps its own copy), no
plugins, and a plain ok for anything else (thread uploads, titles, telemetry calls). No secret is
invented and nothing leaves the machine. Every other control-plane path answers 503 then.

Anyone who reaches these routes acts as the Amp account owner (the proxy adds the Amp key), so
``ampcode.restrict-management-to-localhost`` can limit them to callers on this machine, judged by
the TCP peer address only, never by a forwarded-for header. The pages ``amp login`` opens in a
browser (``/auth…``, ``/threads/…``, ``/settings…``, ``/docs…``) cannot send a client key and are
passed on without one; ``/threads.rss`` and ``/news.rss`` need one.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from cliproxy.amp.module import AmpSettings
from cliproxy.amp.outbound import pass_on, services_of
from cliproxy.amp.provider import provider_call
from cliproxy.config.exposure import is_loopback
from cliproxy.keys.model import KeyRing
from cliproxy.server.access import check_access
from cliproxy.server.body import read_body
from cliproxy.server.json import JSONResponse

UNAVAILABLE = {"error": "amp upstream proxy not available"}
NOT_LOCAL = {"error": "Access denied: management routes restricted to localhost"}
LOCAL_USER = {"id": "cliproxy-local-user", "username": "local", "displayName": "Local user (cliproxy)",
              "email": "local@localhost", "emailVerified": True, "team": None, "features": []}
LOCAL_ANSWERS: dict[str, Any] = {
    "getUserInfo": {"ok": True, "result": LOCAL_USER},
    "getThread": {"ok": False, "error": {"code": "thread-not-found", "message": "Thread not found"}},
    "loadPlugins": {"ok": True, "result": []},
}
HARMLESS_OK: dict[str, Any] = {"ok": True, "result": {}}
KEYLESS_PAGES = ("/threads", "/auth", "/docs", "/settings")


def rpc_name(query: str, body: bytes) -> str:
    """``getUserInfo`` from ``?getUserInfo`` (or from the body's ``method`` when the query has none)."""
    name = query.split("&", 1)[0].split("=", 1)[0]
    if name:
        return name
    try:
        method = orjson.loads(body).get("method") if body else None
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return method if isinstance(method, str) else ""


def local_answer(rpc: str) -> dict[str, Any]:
    answer: dict[str, Any] = LOCAL_ANSWERS.get(rpc, HARMLESS_OK)
    return answer


def _refusal(request: Request, settings: AmpSettings) -> Response | None:
    """503 without an upstream, 403 for a remote caller when restricted to this machine."""
    if not settings.upstream:
        return JSONResponse(UNAVAILABLE, status_code=503)
    return _remote_refusal(request, settings)


def _remote_refusal(request: Request, settings: AmpSettings) -> Response | None:
    peer = request.client.host if request.client else ""
    if settings.section.restrict_management_to_localhost and not is_loopback(peer):
        return JSONResponse(NOT_LOCAL, status_code=403)
    return None


def _settings(request: Request) -> AmpSettings:
    services = services_of(request)
    return services.amp.settings(services.holder.current.config)


async def control_plane(request: Request) -> Response:
    """Every ``/api/…`` control-plane path: passed on, or (``/api/internal`` without upstream) answered."""
    settings = _settings(request)
    limit = services_of(request).holder.current.config.limits.request_body_bytes
    if not settings.upstream and request.url.path == "/api/internal":
        if refused := _remote_refusal(request, settings):
            return refused
        body = await read_body(request, limit)
        return JSONResponse(local_answer(rpc_name(request.url.query, body)))
    if refused := _refusal(request, settings):
        return refused
    return await pass_on(request, settings, await read_body(request, limit), False)


async def page(request: Request) -> Response:
    """The root-level pages (no ``/api``): the browser ones pass without a client key."""
    settings = _settings(request)
    if refused := _refusal(request, settings):
        return refused
    path = request.url.path
    if not any(path == page or path.startswith(page + "/") for page in KEYLESS_PAGES):
        config = services_of(request).holder.current.config
        found = check_access(request.headers, dict(request.query_params), KeyRing.of(config))
        if found is not None:
            state = request.scope.setdefault("state", {})
            state["client_key"], state["key_spec"] = found
    limit = services_of(request).holder.current.config.limits.request_body_bytes
    return await pass_on(request, settings, await read_body(request, limit), False)


async def google_bridge(request: Request) -> Response:
    """``/api/provider/google/v1beta1/…``: model calls decided like any provider call (served here
    even without an upstream); anything else passed on."""
    settings = _settings(request)
    if refused := _remote_refusal(request, settings):
        return refused
    rest = request.path_params.get("rest", "")
    _, found, tail = ("/" + rest).partition("/models/")
    if request.method == "POST" and found:
        return await provider_call(request, "/v1beta/models/{rest:path}", tail)
    return await control_plane(request)


__all__ = ["LOCAL_ANSWERS", "control_plane", "google_bridge", "local_answer", "page", "rpc_name"]
