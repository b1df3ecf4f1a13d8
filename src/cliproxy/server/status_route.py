"""``cliproxy status`` asks the running server over loopback, with a token only the user can read.

At start-up the server writes ``<auth-dir>/.state/server.json`` (mode 0600) with its pid and a
random token; ``GET /v0/local/status`` answers the pool snapshot to a loopback client presenting
that token in ``X-Cliproxy-Local-Token``. So the status command needs neither the management
secret nor a client API key, and nobody who cannot read the user's files can ask.
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

from cliproxy.auth.store import atomic_write
from cliproxy.errors import ProxyError
from cliproxy.pool.store import ensure_private_dir
from cliproxy.server.gate import is_loopback
from cliproxy.server.json import JSONResponse
from cliproxy.server.services import Services

SERVER_FILE = "server.json"
TOKEN_HEADER = "x-cliproxy-local-token"
STATUS_PATH = "/v0/local/status"


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


async def local_status(request: Request) -> Response:
    expected: str = getattr(request.app.state, "status_token", "")
    client = request.client.host if request.client else ""
    presented = request.headers.get(TOKEN_HEADER, "")
    if not expected or not is_loopback(client) or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ProxyError(401, "This status endpoint answers `cliproxy status` on this machine only.",
                         code="invalid_local_token", type="authentication_error")
    services: Services = request.app.state.services
    return JSONResponse(services.runner.pool.snapshot())


STATUS_ROUTES = [Route(STATUS_PATH, local_status, methods=["GET"])]
