"""The usage endpoint Codex CLI reads for its status line, answered from the pool (quota.md §3, §6).

Codex CLI derives the path from its ``chatgpt_base_url``: ``{base}/wham/usage`` when the base
contains ``/backend-api``, else ``{base}/api/codex/usage``. Every derivable path is served, with
or without a trailing slash: ``/backend-api/wham/usage``, ``/backend-api/codex/wham/usage``,
``/api/codex/usage``, ``/v1/api/codex/usage``… The body is the pool seen as one account, in
exactly the shape Codex CLI decodes (integers, no nulls inside windows, a plan it knows), and
``allowed`` stays true while any account can serve, so newer Codex CLIs never hold the input
while the pool has quota.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ProxyError, openai_error_body
from .access import PROTECTED_PREFIXES, check_access
from .errors import error_response
from .json import JSONResponse
from .services import Services

SUFFIXES = ("/wham/usage", "/api/codex/usage")


async def usage(request: Request) -> Response:
    services: Services = request.app.state.services
    path = request.url.path
    if not path.startswith(PROTECTED_PREFIXES):  # the front door did not check the key for this path
        try:
            query = dict(parse_qsl(request.url.query))
            check_access(request.headers, query, services.holder.current.config.api_keys)
        except ProxyError as err:
            return error_response(err, openai_error_body)
    now = time.time()
    return JSONResponse(services.runner.pool.quota_view(now).usage_body(now))


def _paths() -> list[str]:
    paths: list[str] = []
    for suffix in SUFFIXES:
        for path in (suffix, "/{prefix:path}" + suffix):
            paths += [path, path + "/"]
    return paths


USAGE_ROUTES = [Route(path, usage, methods=["GET"]) for path in _paths()]
