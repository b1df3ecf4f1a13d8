"""The caller's own ChatGPT backend requests, relayed as they are.

With ``chatgpt_base_url`` pointed at the proxy, Codex CLI sends more than the usage read there:
``/wham/config/requirements``, ``/wham/tasks…``, ``/ps/…``, rate-limit reset credits, the add-credits
nudge email. Those concern the signed-in user's own ChatGPT account, not the pool, so they go to
the ChatGPT backend with the caller's own headers (``quota.backend-passthrough``, on by default;
off → 404). Only the caller's identity travels: the headers Codex CLI sends there are forwarded by
an allow list (anything else — a client key, the management key, cookies, headers added by a
reverse proxy — stays here), an ``Authorization`` only when it is a ChatGPT token, and no account
of the pool is ever used.

In the ``pool`` (and ``routed``) client view a relayed answer's ``x-codex-*`` quota headers are
replaced by the pool's, so every quota number Codex CLI sees is the same; ``passthrough`` changes
nothing. The Codex API itself (``/backend-api/codex/…``) is the proxy's to serve, never relayed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.errors import Outcome, ProxyError
from cliproxy.pool.poller import chatgpt_backend_base
from cliproxy.server.access import is_chatgpt_bearer, is_relayed_path
from cliproxy.server.body import read_body
from cliproxy.server.errors import route_not_found
from cliproxy.server.services import Services
from cliproxy.upstream.whole_body import ACCEPT_ENCODING, fetch_whole

PREFIX = "/backend-api"
# Per-connection headers (RFC 9110 §7.6.1), plus what httpx sets itself for the new request.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
                        "accept-encoding"})
# What Codex CLI sends to the ChatGPT backend, and all that is sent on: an allow list, so a header
# this proxy knows nothing about (a client or management key under a new name) never leaves.
FORWARDED = frozenset({"authorization", "chatgpt-account-id", "originator", "version", "session_id",
                       "conversation_id", "openai-beta", "user-agent", "accept", "accept-language", "content-type",
                       "if-none-match", "if-modified-since", "x-request-id", "traceparent", "tracestate"})
FORWARDED_PREFIXES = ("x-codex-", "x-openai-")
KEY_PARAMS = frozenset({"key", "auth_token"})
# The body is relayed decoded (upstream/whole_body.py), so its coding and length are ours to set.
ANSWER_DROP = HOP_BY_HOP | {"content-encoding"}
RELAY_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Codex CLI (0.17x) redeems a rate-limit reset credit here (GET ``…/rate-limit-reset-credits`` lists them).
RESET_CREDIT_CONSUME = "/wham/rate-limit-reset-credits/consume"


def caller_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers as they may go to the ChatGPT backend (``FORWARDED``)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in FORWARDED and not lowered.startswith(FORWARDED_PREFIXES):
            continue
        if lowered == "authorization" and not is_chatgpt_bearer(headers):
            continue
        out[lowered] = value
    return out


def _query(request: Request) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in KEY_PARAMS]
    return "?" + urlencode(kept) if kept else ""


def _answer_headers(answer: httpx.Response, size: int,
                    quota: Mapping[str, str] | None) -> list[tuple[bytes, bytes]]:
    """The backend's headers, minus hop-by-hop ones; its quota headers swapped for ``quota``."""
    items = [(k.lower(), v) for k, v in answer.headers.multi_items() if k.lower() not in ANSWER_DROP]
    if quota is not None and any(k.startswith("x-codex-") for k, _ in items):
        items = [(k, v) for k, v in items if not k.startswith("x-codex-")] + list(quota.items())
    items.append(("content-length", str(size)))
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in items]


async def relay(request: Request, url: str, pool_view: bool) -> Response:
    """Send the caller's request to ``url`` with its own headers; answer with the backend's, read
    whole within ``limits.upstream-body-bytes``. A header the transport refuses to send is ours
    (a 500 that touches no account); an unreachable backend is a 502."""
    services: Services = request.app.state.services
    client = services.upstream.client_for_egress()
    config = services.holder.current.config
    body = await read_body(request, config.limits.request_body_bytes)
    headers = caller_headers(request.headers) | {"accept-encoding": ACCEPT_ENCODING}
    limit = config.limits.upstream_body_bytes
    try:
        answer, content = await fetch_whole(client, request.method, url + _query(request), limit,
                                            content=body or None, headers=headers, timeout=RELAY_TIMEOUT)
    except httpx.LocalProtocolError:
        raise ProxyError(500, "the proxy could not send this request to the ChatGPT backend (a header it "
                         "refuses to send)", code="internal_server_error", outcome=Outcome.INTERNAL) from None
    except httpx.HTTPError as exc:
        raise ProxyError(502, f"the ChatGPT backend could not be reached ({type(exc).__name__})",
                         code="upstream_unreachable") from None
    quota = services.runner.pool.recent_view().headers(time.time()) if pool_view else None
    response = Response(status_code=answer.status_code)
    response.body = content
    response.raw_headers = _answer_headers(answer, len(content), quota)
    return response


async def backend(request: Request) -> Response:
    services: Services = request.app.state.services
    config = services.holder.current.config
    path = request.url.path
    if not config.quota.backend_passthrough or not is_relayed_path(path):
        return route_not_found(request.method, path)
    url = chatgpt_backend_base(config.codex_base_url) + path[len(PREFIX):]
    response = await relay(request, url, pool_view=config.quota.client_view != "passthrough")
    if request.method == "POST" and path.endswith(RESET_CREDIT_CONSUME) and 200 <= response.status_code < 300:
        _end_rest(services, request.headers.get("chatgpt-account-id", ""))
    return response


def _end_rest(services: Services, account_id: str) -> None:
    """A rate-limit reset credit was redeemed for this ChatGPT account: its quota is back, so a pool
    account signed in to it stops resting now rather than at the reset it was waiting for."""
    pool = services.runner.pool
    for credential in pool.credentials():
        if account_id and credential.account_id == account_id:
            pool.reset(credential.id)  # logs "… is back in rotation" when it was resting


BACKEND_ROUTES = [Route(PREFIX + "/{rest:path}", backend, methods=["GET", "POST"])]
