"""ProxyError → an HTTP response in the client's dialect, with ``Retry-After`` when known.

The app registers :data:`EXCEPTION_HANDLERS`, so a route raises and never renders: a ``ProxyError``
that leaves a route before its response started becomes a real HTTP status in the shape the path's
clients parse (``family_for_path``). Streaming routes wait for their first frame before they return
a response, so every failure before the commit reaches this handler too; after the commit the
runner and the dialect's stream translator send one error event instead. Any other exception is ours:
a 500 in the path's dialect naming a request id that its log line carries too. The front door
(``server/gate.py``) runs before the app and renders with :func:`error_response_for_path` itself.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cliproxy.auth.store import StoreUnavailable
from cliproxy.errors import ProxyError, anthropic_error_body, google_error_body, openai_error_body
from cliproxy.runner.budget import internal_error
from cliproxy.server.json import JSONResponse

log = logging.getLogger(__name__)

ErrorBody = Callable[[ProxyError], dict[str, Any]]

BODY_BY_FAMILY: dict[str, ErrorBody] = {
    "openai": openai_error_body,
    "anthropic": anthropic_error_body,
    "google": google_error_body,
}


def family_for_path(path: str) -> str:
    """Which error shape a path's clients parse."""
    if path.startswith("/v1/messages") or "/anthropic/" in path:
        return "anthropic"
    if path.startswith("/v1beta") or "/google/" in path:
        return "google"
    return "openai"


def error_response(error: ProxyError, body: ErrorBody) -> Response:
    return JSONResponse(body(error), status_code=error.status, headers=error.headers())


def error_response_for_path(error: ProxyError, path: str) -> Response:
    return error_response(error, BODY_BY_FAMILY[family_for_path(path)])


def route_not_found(method: str, path: str) -> Response:
    """404 for a path this server does not serve, in the shape its clients parse."""
    err = ProxyError(404, f"{method} {path} is not a route of this server.", code="not_found",
                     type="invalid_request_error")
    return error_response_for_path(err, path)


async def render_proxy_error(request: Request, exc: Exception) -> Response:
    """The one place a route's ``ProxyError`` is rendered."""
    if not isinstance(exc, ProxyError):  # registered for ProxyError only; anything else is not ours
        raise exc
    return error_response_for_path(exc, request.url.path)


async def render_our_failure(request: Request, exc: Exception) -> Response:
    """Any other exception is ours: logged with a fresh request id, answered with a 500 in the path's
    dialect that names that id (never a traceback), and no account is touched."""
    request_id = secrets.token_hex(8)
    log.error("request %s: unexpected failure (ours) in %s %s", request_id, request.method, request.url.path,
              exc_info=exc)
    return error_response_for_path(internal_error(request_id), request.url.path)


async def not_found(request: Request, exc: Exception) -> Response:
    """No route (404), or a route without this method (405): answered as a 404 in the path's dialect."""
    return route_not_found(request.method, request.url.path)


async def store_away(request: Request, exc: Exception) -> Response:
    """The account store is away (Redis, with ``state.accounts: redis``): a management call that
    reads or writes account records answers 503, to be tried again, not a 500."""
    log.warning("%s %s: the account store cannot be reached now (%s)", request.method, request.url.path, exc)
    err = ProxyError(503, "The account store cannot be reached now; try again once it is back.",
                     code="account_store_unavailable", type="api_error")
    return error_response_for_path(err, request.url.path)


ExceptionHandler = Callable[[Request, Exception], Any]
EXCEPTION_HANDLERS: dict[Any, ExceptionHandler] = {ProxyError: render_proxy_error, 404: not_found, 405: not_found,
                                                   StoreUnavailable: store_away, Exception: render_our_failure}
