"""The management API under ``/v0/management`` (docs/routes.md, "Management API"), as one ASGI app.

Every call passes the guard first (secret set, loopback or ``allow-remote``, not banned, right key);
without a secret every path is 404, as if the API did not exist. Then a plain Starlette router
dispatches to the endpoint modules: settings, account files, logs, login. This module adds the
whole-config endpoints and the usage aggregates.
"""

from __future__ import annotations

import asyncio
import math
import re
import time

import orjson
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import Message, Receive, Scope, Send

from cliproxy import __version__
from cliproxy.config import edit as config_edit
from cliproxy.config.schema import ConfigError, to_document
from cliproxy.observe.usage import GROUPS, RETENTION_DAYS, summary
from cliproxy.server.json import JSONResponse
from cliproxy.server.management import (
    ampcode as management_ampcode,
)
from cliproxy.server.management import (
    client_keys as management_client_keys,
)
from cliproxy.server.management import cpa as management_cpa
from cliproxy.server.management import (
    files as management_files,
)
from cliproxy.server.management import (
    login as management_login,
)
from cliproxy.server.management import (
    logs as management_logs,
)
from cliproxy.server.management import (
    settings as management_settings,
)
from cliproxy.server.management.common import (
    BadBody,
    ManagementContext,
    body_too_large,
    bounded_receive,
    endpoint,
    error,
    mask_document,
    mask_secrets,
    save_text,
)
from cliproxy.server.management.guard import Denied, Guard
from cliproxy.server.management.moves import unmasked_upload

VERSION_HEADERS = [(b"x-cpa-version", __version__.encode()), (b"x-cpa-commit", b"unknown"),
                   (b"x-cpa-build-date", b"unknown")]
DEFAULT_USAGE_DAYS = 30
MAX_USAGE_HOURS = int(RETENTION_DAYS * 24)  # the history keeps nothing older


def _config_routes(ctx: ManagementContext) -> list[Route]:
    async def config_json(request: Request) -> Response:
        return JSONResponse(mask_secrets(to_document(ctx.config)))

    async def config_yaml(request: Request) -> Response:
        if request.method == "GET":
            text = ctx.reloader.config_text()
            try:
                doc = config_edit.load_document(text)
            except ConfigError as exc:
                return error(str(exc), 409)
            mask_document(doc)
            return Response(config_edit.dump_document(doc, like=text), media_type="application/yaml")
        try:
            text = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("the config must be UTF-8 text") from None
        try:
            doc = config_edit.load_document(text, "uploaded config")
            current = config_edit.load_document(ctx.reloader.config_text())
        except ConfigError as exc:
            raise BadBody(str(exc)) from None
        return await save_text(ctx, unmasked_upload(ctx, doc, current, text))

    return [Route("/config", endpoint(config_json), methods=["GET"]),
            Route("/config.yaml", endpoint(config_yaml), methods=["GET", "PUT"])]


def _usage_routes(ctx: ManagementContext) -> list[Route]:
    async def usage(request: Request) -> Response:
        query = request.query_params
        since, until = _usage_window(query)
        groups = [g for g in query.get("group", "day,account,model,key").split(",") if g]
        if any(g not in GROUPS for g in groups):
            raise BadBody(f"group must be among: {', '.join(GROUPS)}")
        if ctx.usage is None:
            raise BadBody("usage history is not available on this server", 404)
        await asyncio.to_thread(ctx.usage.flush, 5.0)
        result = await asyncio.to_thread(summary, ctx.usage.path, since, until, groups)
        return JSONResponse({"enabled": ctx.config.usage_statistics_enabled, **result})

    return [Route("/usage", endpoint(usage), methods=["GET"])]


def _usage_window(query: QueryParams) -> tuple[float, float]:
    """[since, until) of a usage query: ``until`` defaults to now; without ``since``, the window is the
    ``days`` (default 30) or ``hours`` before ``until`` — a rolling window, so ``days=1`` and
    ``hours=24`` are the same last 24 hours, not a calendar day."""
    try:
        until, span = float(query.get("until") or time.time() + 1), _usage_span(query)
        since = float(query["since"]) if query.get("since") else until - span
    except ValueError:
        raise BadBody("since and until must be numbers") from None
    return since, until


def _usage_span(query: QueryParams) -> float:
    """Seconds before ``until``; ``hours`` is a whole number within the history's 90 days."""
    hours, days = query.get("hours"), query.get("days")
    if not hours:
        return _usage_days(days) * 86400
    if days:
        raise BadBody("give days or hours, not both")
    if not re.fullmatch(r"[0-9]{1,6}", hours) or not 1 <= int(hours) <= MAX_USAGE_HOURS:
        raise BadBody(f"hours must be a whole number from 1 to {MAX_USAGE_HOURS}")
    return int(hours) * 3600.0


def _usage_days(raw: str | None) -> float:
    """``days``: a number of days (a fraction too) within the history's 90; NaN and infinity fail
    the comparison, so they are refused with the rest."""
    try:
        days = float(raw or DEFAULT_USAGE_DAYS)
    except ValueError:
        days = math.nan
    if not 0 < days <= RETENTION_DAYS:
        raise BadBody(f"days must be a number above 0 and at most {RETENTION_DAYS:g}")
    return days


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    """An ``{"error": ...}`` answer sent before the router is reached."""
    body = orjson.dumps({"error": message})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *VERSION_HEADERS]})
    await send({"type": "http.response.body", "body": body})


class ManagementApp:
    """The guard in front of the management router."""

    def __init__(self, ctx: ManagementContext, logins: management_login.Logins,
                 log_buffer: management_logs.LogBuffer, guard: Guard | None = None) -> None:
        self.ctx = ctx
        self.guard = guard or Guard()
        self.router = Router(routes=[
            *_config_routes(ctx), *_usage_routes(ctx), *management_settings.routes(ctx),
            *management_files.routes(ctx), *management_logs.routes(ctx, log_buffer),
            *management_login.routes(logins), *management_client_keys.routes(ctx),
            *management_ampcode.routes(ctx),
            *management_cpa.routes(ctx),
        ], default=_not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.ctx.config
        if scope["type"] != "http" or not self.guard.enabled(config):
            await _not_found(scope, receive, send)
            return
        client = scope.get("client") or ("", 0)
        headers = Headers(scope=scope)
        try:
            await self.guard.check(client[0], headers, config)
        except Denied as denied:
            await _refuse(send, denied.status, denied.message)
            return
        await self.dispatch(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The router behind the guard, for a caller that has already checked who is calling (the
        dashboard, by its session): the body limit and the version headers still apply."""
        limit = self.ctx.config.limits.request_body_bytes
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            refused = body_too_large(limit)
            await _refuse(send, refused.status, refused.message)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *VERSION_HEADERS]}
            await send(message)

        await self.router(scope, bounded_receive(receive, limit), send_with_version)


__all__ = ["ManagementApp"]
