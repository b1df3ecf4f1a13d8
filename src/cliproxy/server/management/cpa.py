"""Management endpoints CLIProxyAPI's Management Center calls, in its paths and shapes.

``api-call`` sends one request through a chosen account, its token put where the caller wrote
``$TOKEN$`` (the Center reads each account's ``wham/usage`` this way). It is no open relay: the URL
must be on the Codex backend's own host (the account's base URL, ``codex-base-url`` or
``quota.usage-url``), and it sits behind the management secret like every endpoint here.
``reset-quota`` ends an account's rest; ``model-definitions/codex`` lists the catalogue (the
config's own, else the bundled one); ``api-key-usage`` counts requests per ``codex-api-key`` entry
(its key masked); ``latest-version`` answers the running version, with no network call.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy import __version__
from cliproxy.config.catalogue import ModelInfo, bundled_catalogue
from cliproxy.config.catalogue_override import configured_catalogue
from cliproxy.credential import Credential
from cliproxy.observe.logs import mask
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import BadBody, ManagementContext, endpoint, json_body
from cliproxy.server.management.files import pool_accounts
from cliproxy.upstream.whole_body import fetch_whole

TOKEN_PLACEHOLDER = "$TOKEN$"
API_CALL_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
ANSWER_HEADERS_DROPPED = frozenset({"set-cookie", "content-length", "content-encoding", "transfer-encoding"})


def _auth_index(body: dict[str, Any]) -> str:
    for key in ("auth_index", "authIndex", "AuthIndex"):
        if isinstance(body.get(key), str) and body[key].strip():
            return str(body[key]).strip()
    return ""


def _credential(ctx: ManagementContext, index: str) -> Credential:
    """The account an ``auth_index`` names (the ``auth_index`` of the ``auth-files`` listing)."""
    found = next((c for c in ctx.pool.credentials() if c.id == index), None)
    if found is None:
        raise BadBody("auth not found", 404)
    return found


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def codex_origins(ctx: ManagementContext, credential: Credential | None) -> set[tuple[str, str]]:
    """Where ``api-call`` may go: the Codex backend's hosts and nothing else."""
    config = ctx.config
    urls = [config.codex_base_url, config.quota.usage_url, credential.base_url if credential else ""]
    return {_origin(url) for url in urls if url}


def _headers(raw: Any, credential: Credential | None) -> dict[str, str]:
    if raw is not None and not isinstance(raw, dict):
        raise BadBody("header must be an object of strings")
    headers = {str(k): str(v) for k, v in (raw or {}).items()}
    if any(TOKEN_PLACEHOLDER in value for value in headers.values()):
        if credential is None:
            raise BadBody("auth token not found")
        headers = {k: v.replace(TOKEN_PLACEHOLDER, credential.access_token) for k, v in headers.items()}
    return headers


async def api_call(ctx: ManagementContext, request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadBody()
    method, url = str(body.get("method") or "").upper(), str(body.get("url") or "")
    if not method:
        raise BadBody("missing method")
    if not url or not urlsplit(url).netloc:
        raise BadBody("missing url" if not url else "invalid url")
    index = _auth_index(body)
    credential = _credential(ctx, index) if index else None
    if _origin(url) not in codex_origins(ctx, credential):
        raise BadBody("api-call only reaches the Codex backend's host", 403)
    headers = _headers(body.get("header"), credential)
    data = body.get("data")
    return await _send(ctx, credential, method, url, headers, data.encode() if isinstance(data, str) and data else None)


async def _send(ctx: ManagementContext, credential: Credential | None, method: str, url: str,
                headers: dict[str, str], content: bytes | None) -> Response:
    if ctx.upstream is None:
        raise BadBody("api-call is not available on this server", 503)
    client = ctx.upstream.client_for_egress(credential.proxy_url if credential else "")
    try:
        answer, payload = await fetch_whole(client, method, url, ctx.config.limits.upstream_body_bytes,
                                            content=content, headers=headers, timeout=API_CALL_TIMEOUT)
    except httpx.HTTPError:
        raise BadBody("request failed", 502) from None
    grouped: dict[str, list[str]] = {}
    for name, value in answer.headers.multi_items():
        if name.lower() not in ANSWER_HEADERS_DROPPED:
            grouped.setdefault(name, []).append(value)
    return JSONResponse({"status_code": answer.status_code, "header": grouped,
                         "body": payload.decode("utf-8", "replace")})


def model_definition(info: ModelInfo) -> dict[str, Any]:
    """One model as CLIProxyAPI's static definitions list it."""
    return {"id": info.id, "object": "model", "created": info.created, "owned_by": info.owned_by, "type": "openai",
            "display_name": info.display_name, "description": info.description,
            "context_length": info.context_length, "max_completion_tokens": info.max_completion_tokens,
            "thinking": {"levels": list(info.levels)}}


async def model_definitions(ctx: ManagementContext, request: Request) -> Response:
    channel = (request.path_params.get("channel") or request.query_params.get("channel") or "").strip().lower()
    if not channel:
        raise BadBody("channel is required")
    if channel != "codex":
        return JSONResponse({"error": "unknown channel", "channel": channel}, status_code=400)
    models = ctx.config.models
    catalogue = configured_catalogue(models.catalogue, models.catalogue_file) or bundled_catalogue()
    return JSONResponse({"channel": channel, "models": [model_definition(m) for m in catalogue.models]})


async def reset_quota(ctx: ManagementContext, request: Request) -> Response:
    body = await json_body(request)
    index = _auth_index(body) if isinstance(body, dict) else ""
    if not index:
        raise BadBody("auth_index is required")
    credential = _credential(ctx, index)
    ctx.pool.reset(credential.id)
    return JSONResponse({"status": "ok", "auth_index": credential.id, "models": []})


async def api_key_usage(ctx: ManagementContext, request: Request) -> Response:
    """``{"codex": {"<base_url>|<masked key>": {success, failed, recent_requests}}}``."""
    accounts = pool_accounts(ctx.pool)
    usage: dict[str, dict[str, Any]] = {}
    for credential in ctx.pool.credentials():
        if credential.kind == "oauth":
            continue
        view = accounts.get(credential.id, {})
        requests, errors = int(view.get("requests", 0)), int(view.get("errors", 0))
        usage[f"{credential.base_url}|{mask(credential.access_token)}"] = {
            "success": max(requests - errors, 0), "failed": errors, "recent_requests": []}
    return JSONResponse({"codex": usage} if usage else {})


async def latest_version(ctx: ManagementContext, request: Request) -> Response:
    return JSONResponse({"latest-version": __version__})


def routes(ctx: ManagementContext) -> list[Route]:
    def bound(handler: Any) -> Any:
        async def handle(request: Request) -> Response:
            response: Response = await handler(ctx, request)
            return response
        return endpoint(handle)

    return [Route("/api-call", bound(api_call), methods=["POST"]),
            Route("/model-definitions/{channel}", bound(model_definitions), methods=["GET"]),
            Route("/model-definitions", bound(model_definitions), methods=["GET"]),
            Route("/reset-quota", bound(reset_quota), methods=["POST"]),
            Route("/api-key-usage", bound(api_key_usage), methods=["GET"]),
            Route("/latest-version", bound(latest_version), methods=["GET"])]


__all__ = ["TOKEN_PLACEHOLDER", "codex_origins", "model_definition", "routes"]
