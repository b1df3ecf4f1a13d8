"""``/v8/management``: CLIProxyAPI 8's management paths, answered where their shape is the v0 one.

CLIProxyAPI 8 moved its management API to ``/v8/management``. Its configuration endpoints changed
shape there (a body is the value itself, settings live under ``/config/<path>`` of the sectioned
tree), so those are not aliased: they answer 404 and the v0 paths remain. The operational endpoints
kept their paths and bodies — accounts, logs, usage, logins, ``api-call`` and the rest listed in
``ALIASED`` — and are served by the same app, behind the same management secret.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from cliproxy.server.json import JSONResponse

PREFIX = "/v8/management"
ALIASED = ("/auth-files", "/api-call", "/model-definitions", "/reset-quota", "/api-key-usage", "/latest-version",
           "/logs", "/request-error-logs", "/request-log-by-id", "/usage", "/config.yaml", "/codex-auth-url",
           "/oauth-callback", "/get-auth-status")


def aliased(rest: str) -> bool:
    """Whether a path under the prefix is one of the aliased endpoints (or below one)."""
    return any(rest == path or rest.startswith(path + "/") for path in ALIASED)


def v8_alias(app: ASGIApp) -> ASGIApp:
    """``app`` (the v0 management app, mounted here too) for the aliased paths; 404 for the rest."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        rest = path[path.find(PREFIX) + len(PREFIX):] if PREFIX in path else path
        if scope["type"] != "http" or not aliased(rest):
            await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)
            return
        await app(scope, receive, send)

    return serve


__all__ = ["ALIASED", "PREFIX", "aliased", "v8_alias"]
