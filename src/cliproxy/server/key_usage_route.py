"""``GET /v1/usage``: a client key's own limits, what it used, when each window resets, its recent usage.

It answers for the calling key only: the key is the one the front door matched, so no parameter can
name another. The pool's accounts and quota are left out unless the key's ``show-pool-quota`` lets
its holder see them. ``/v1beta/usage`` answers the same, for clients configured with a Gemini base.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.keys.counters import WindowUsage
from cliproxy.keys.model import KeySpec
from cliproxy.observe.usage import key_summary
from cliproxy.server.json import JSONResponse
from cliproxy.server.key_admission import key_of
from cliproxy.server.services import Services

RECENT_DAYS = 7


def _window(usage: WindowUsage) -> dict[str, Any]:
    limit = usage.limit
    resets = usage.resets_at
    return {"limit": limit.describe(), "unit": limit.unit, "per": limit.window.per,
            "window": "rolling" if limit.window.rolling else "calendar", "allowed": limit.amount,
            "used": usage.used, "remaining": usage.remaining,
            "resets_at": None if resets is None else int(resets + 0.999),
            "resets_at_utc": None if resets is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(resets))}


async def _recent(services: Services, key: KeySpec) -> dict[str, Any] | None:
    usage = services.ops.usage
    if usage is None or not services.holder.current.config.usage_statistics_enabled:
        return None
    await asyncio.to_thread(usage.flush, 5.0)
    until = time.time() + 1
    recent = await asyncio.to_thread(key_summary, usage.path, key.name, until - RECENT_DAYS * 86400, until)
    return {"days": RECENT_DAYS, **recent}


async def key_usage(request: Request) -> Response:
    services: Services = request.app.state.services
    key = key_of(request)
    if key is None:
        return JSONResponse({"key": None, "limits": [], "note": "this server needs no key: nothing is counted per key"})
    now = time.time()
    body: dict[str, Any] = {
        "key": key.name, "disabled": key.disabled, "expires_at": key.expires_at, "models": list(key.models) or None,
        "max_effort": key.max_effort or None,
        "limits": [_window(usage) for usage in await services.counters.usage(key, now)],
        "recent": await _recent(services, key),
    }
    if key.show_pool_quota:
        body["pool"] = services.runner.pool.quota_view(now).usage_body(now)
    return JSONResponse(body)


KEY_USAGE_ROUTES = [Route("/v1/usage", key_usage, methods=["GET"]), Route("/v1beta/usage", key_usage, methods=["GET"])]
