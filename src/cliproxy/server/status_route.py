"""``cliproxy status`` asks the running server over loopback, with a token only the user can read.

At start-up the server writes ``<auth-dir>/.state/server.json`` (mode 0600) with its pid and a
random token; ``GET /v0/local/status`` answers the pool snapshot to a loopback client presenting
that token in ``X-Cliproxy-Local-Token``, and ``POST /v0/local/reset`` ends accounts' rests for
``cliproxy accounts reset``. So these commands need neither the management secret nor a client API
key, and nobody who cannot read the user's files can ask.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy import __version__
from cliproxy.auth.store import atomic_write
from cliproxy.errors import ProxyError, bad_request
from cliproxy.pool.core import Pool
from cliproxy.pool.store import ensure_private_dir
from cliproxy.server.gate import is_loopback
from cliproxy.server.json import JSONResponse
from cliproxy.server.services import Services
from cliproxy.state.base import StateUnavailable

SERVER_FILE = "server.json"
TOKEN_HEADER = "x-cliproxy-local-token"
STATUS_PATH = "/v0/local/status"
RESET_PATH = "/v0/local/reset"


def write_server_file(state_dir: Path, bind_host: str) -> str:
    """Write a fresh token (0600) and return it."""
    token = secrets.token_urlsafe(32)
    ensure_private_dir(state_dir.parent)
    ensure_private_dir(state_dir)
    record = {"pid": os.getpid(), "token": token, "host": bind_host, "started_at": time.time()}
    atomic_write(state_dir / SERVER_FILE, orjson.dumps(record))
    return token


def remove_server_file(state_dir: Path, token: str) -> None:
    """At shutdown, remove the file if it is still ours (another server may have started since)."""
    path = state_dir / SERVER_FILE
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        if orjson.loads(path.read_bytes()).get("token") == token:
            path.unlink()


def read_server_file(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads((state_dir / SERVER_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _local_pool(request: Request) -> Pool:
    """The pool, for a loopback client that presents the server file's token; else a 401."""
    expected: str = getattr(request.app.state, "status_token", "")
    client = request.client.host if request.client else ""
    presented = request.headers.get(TOKEN_HEADER, "")
    if not expected or not is_loopback(client) or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ProxyError(401, "This endpoint answers `cliproxy status` and `cliproxy accounts reset` on this "
                         "machine only.", code="invalid_local_token", type="authentication_error")
    services: Services = request.app.state.services
    return services.runner.pool


async def local_status(request: Request) -> Response:
    """The pool snapshot, which build answers (``cliproxy doctor`` compares it with its own), and the
    state backend with its live instances."""
    from cliproxy.version import commit

    snapshot = _local_pool(request).snapshot()
    return JSONResponse({**snapshot, "server": {"version": __version__, "commit": commit()},
                         "state": await state_status(request.app.state.services)})


async def state_status(services: Services) -> dict[str, Any]:
    """The state backend, whether it answers, and the live instances by their heartbeats (this one
    alone when Redis is away: the others cannot be seen then)."""
    state = services.state
    try:
        instances = await state.instances()
    except StateUnavailable:
        instances = [{"instance": state.instance, "started_at": state.started_at}]
    return {**state.health().as_dict(), "instance": state.instance, "instances": instances}


async def local_reset(request: Request) -> Response:
    """``cliproxy accounts reset [NAME]``: end the rests of one account (``{"name": id}``) or of all."""
    pool = _local_pool(request)
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise bad_request("the body must be JSON: {} or {\"name\": \"<account file>\"}") from None
    name = body.get("name") if isinstance(body, dict) else None
    return JSONResponse({"reset": reset_rests(pool, name if isinstance(name, str) and name else None)})


def reset_rests(pool: Pool, name: str | None) -> list[str]:
    """End the rests of account ``name`` (its pool id: the file name) or of every account; the ids of
    those that were resting. An unknown name is a 404."""
    ids = [credential.id for credential in pool.credentials()]
    if name is not None and name not in ids:
        raise ProxyError(404, f"no account {name!r} in the running pool", code="account_not_found",
                         type="invalid_request_error")
    return [cid for cid in ([name] if name is not None else ids) if pool.reset(cid)]


STATUS_ROUTES = [Route(STATUS_PATH, local_status, methods=["GET"]),
                 Route(RESET_PATH, local_reset, methods=["POST"])]
