"""ProxyError → an HTTP response in the client's dialect, with ``Retry-After`` when known."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from cliproxy.errors import ProxyError, anthropic_error_body, google_error_body, openai_error_body
from cliproxy.server.json import JSONResponse

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
