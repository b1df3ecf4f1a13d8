"""Adding an account from the management API by the device-code flow: no redirect, no callback port.

``GET /codex-device-code`` asks the issuer for a code and answers it with the page to enter it on and
a ``state`` naming this login; ``GET /codex-device-status?state=…`` polls (``wait``, ``ok`` or
``error``, the words of ``/get-auth-status``). The waiting, the exchange and the saving are the CLI's
own (``auth.login.finish_device_login``); a saved account reaches the pool through the reloader.
At most ``MAX_PENDING`` logins wait at once, so a caller cannot make the server poll without end.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cliproxy.auth.device import DEVICE_TIMEOUT, DeviceCode, request_device_code
from cliproxy.auth.errors import AuthError
from cliproxy.auth.login import LoginContext, SavedAccount, finish_device_login
from cliproxy.server.json import JSONResponse
from cliproxy.server.management.common import BadBody, ManagementContext, endpoint

log = logging.getLogger(__name__)

MAX_PENDING = 8
FORGET_AFTER = DEVICE_TIMEOUT + 60.0  # a finished or failed login is still answered for a minute


@dataclass
class _Pending:
    created: float
    status: str = "wait"  # wait | ok | error
    error: str = ""
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class DeviceLogins:
    """Pending device logins by state; ``context`` gives the issuer client the browser logins use."""

    def __init__(self, ctx: ManagementContext, context: Callable[[], LoginContext], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx, self._context, self._clock = ctx, context, clock
        self._pending: dict[str, _Pending] = {}

    async def aclose(self) -> None:
        tasks = [p.task for p in self._pending.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pending.clear()

    def _purge(self) -> None:
        now = self._clock()
        for state in [s for s, p in self._pending.items() if now - p.created > FORGET_AFTER]:
            self._pending.pop(state)

    async def start(self, request: Request) -> Response:
        self._purge()
        if sum(p.status == "wait" for p in self._pending.values()) >= MAX_PENDING:
            raise BadBody(f"{MAX_PENDING} device logins are already waiting; finish or let one expire", 429)
        context = self._context()
        try:
            code = await request_device_code(context.http, context.endpoints)
        except AuthError as exc:
            raise BadBody(f"the issuer refused a device code: {exc.friendly}", 502) from None
        state = secrets.token_urlsafe(16)
        pending = _Pending(created=self._clock())
        pending.task = asyncio.create_task(self._wait(context, code, pending))
        self._pending[state] = pending
        return JSONResponse({"status": "ok", "state": state, "user_code": code.user_code,
                             "url": code.verification_url, "expires_in": int(DEVICE_TIMEOUT)})

    async def _wait(self, context: LoginContext, code: DeviceCode, pending: _Pending) -> None:
        try:
            saved: SavedAccount = await finish_device_login(context, code)
        except asyncio.CancelledError:
            raise
        except AuthError as exc:
            pending.status, pending.error = "error", exc.friendly
            log.warning("management device login failed: %s", exc.friendly)
            return
        except Exception:
            pending.status, pending.error = "error", "Failed to save authentication tokens"
            log.exception("management device login failed")
            return
        log.info("management device login: account %s saved", saved.name)
        await self.ctx.reloader.reload(config=False, accounts=[saved.name], reason="login")
        pending.status = "ok"

    async def status(self, request: Request) -> Response:
        pending = self._pending.get(request.query_params.get("state", ""))
        if pending is None:
            raise BadBody("unknown or expired state", 404)
        if pending.status == "error":
            return JSONResponse({"status": "error", "error": pending.error})
        return JSONResponse({"status": pending.status})


def routes(devices: DeviceLogins) -> list[Route]:
    return [Route("/codex-device-code", endpoint(devices.start), methods=["GET"]),
            Route("/codex-device-status", endpoint(devices.status), methods=["GET"])]


__all__ = ["DeviceLogins", "routes"]
