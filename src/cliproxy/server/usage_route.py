"""The usage endpoint Codex CLI reads for its status line, answered from the pool.

Codex CLI derives the path from its ``chatgpt_base_url``: ``{base}/wham/usage`` when the base
contains ``/backend-api``, else ``{base}/api/codex/usage``. Every derivable path is served, with
or without a trailing slash: ``/backend-api/wham/usage``, ``/backend-api/codex/wham/usage``,
``/api/codex/usage``, ``/v1/api/codex/usage``… The body is the pool seen as one account, in
exactly the shape Codex CLI decodes (integers, no nulls inside windows, a plan it knows), and
``allowed`` stays true while any account can serve, so newer Codex CLIs never hold the input
while the pool has quota.

``quota.client-view`` chooses what the body shows: ``pool`` (the default, above), ``routed`` (the
account the caller's session is bound to, when a session header names one, else the pool) or
``passthrough`` (the caller's own request relayed to the ChatGPT backend, body verbatim). While
``quota.poll-interval`` is on, accounts not read for a minute are read before answering.
The front door checks the client key on every one of these paths, so a wrong key counts toward
its throttle wherever the route is mounted.

Codex CLI's TUI also asks ``{base}/wham/accounts/check`` ("workspace routing discovery") before
it reads usage, and exits when that fails. The proxy answers it with the caller's own account id
and the ``https://chatgpt.com`` origin; with a custom model provider that origin is not used for
inference (turns still go to the provider's ``base_url``, the proxy).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.credential import Credential
from cliproxy.errors import ProxyError
from cliproxy.pool.affinity import SESSION_HEADERS
from cliproxy.pool.poller import ON_DEMAND_WAIT, STALE_AFTER, usage_url
from cliproxy.server.backend_route import relay
from cliproxy.server.json import JSONResponse
from cliproxy.server.key_admission import key_of
from cliproxy.server.services import Services

SUFFIXES = ("/wham/usage", "/api/codex/usage")
ACCOUNTS_CHECK = "/wham/accounts/check"
DEFAULT_ORIGIN = "https://chatgpt.com"  # Codex CLI accepts only an https origin here


def _sessions(request: Request) -> list[str]:
    """The ids a session header may be bound under (the raw value, or ``name:value``)."""
    found: list[str] = []
    for name in SESSION_HEADERS:
        if value := request.headers.get(name):
            found += [value, f"{name}:{value}"]
    return found


async def usage(request: Request) -> Response:
    services: Services = request.app.state.services
    config = services.holder.current.config
    if config.quota.client_view == "passthrough":
        return await relay(request, usage_url(config, config.codex_base_url), pool_view=False)
    _check_pool_view(request)
    pool = services.runner.pool
    bound: Credential | None = None
    if config.quota.client_view == "routed":
        bound = pool.session_credential(_sessions(request))
    if services.poller is not None and services.poller.enabled:
        await services.poller.refresh(STALE_AFTER, wait=ON_DEMAND_WAIT, only=None if bound is None else [bound])
    now = time.time()
    view = pool.quota_view(now) if bound is None else pool.account_view(bound, now)
    return JSONResponse(view.usage_body(now))


def _check_pool_view(request: Request) -> None:
    """A client key sees the pool's quota only when its owner allows it (``show-pool-quota``)."""
    key = key_of(request)
    if key is not None and not key.show_pool_quota:
        raise ProxyError(403, f"The API key {key.name!r} may not read the pool's quota; `GET /v1/usage` shows "
                         "its own limits.", code="pool_quota_hidden", type="permission_error")


async def accounts_check(request: Request) -> Response:
    """Workspace routing discovery: the caller's account, no routing constraint."""
    account = request.headers.get("chatgpt-account-id") or "cliproxy"
    return JSONResponse({"accounts": [{"id": account, "workspace_backend_origin": DEFAULT_ORIGIN,
                                       "account_routing_override": "NO_CONSTRAINT"}],
                         "account_ordering": [account]})


def _paths(suffixes: tuple[str, ...]) -> list[str]:
    paths: list[str] = []
    for suffix in suffixes:
        for path in (suffix, "/{prefix:path}" + suffix):
            paths += [path, path + "/"]
    return paths


USAGE_ROUTES = [*(Route(path, usage, methods=["GET"]) for path in _paths(SUFFIXES)),
                *(Route(path, accounts_check, methods=["GET"]) for path in _paths((ACCOUNTS_CHECK,)))]
