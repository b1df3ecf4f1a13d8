"""The operational side of one server: hot reload, usage history, request logs, metrics, management.

``build_services`` creates an :class:`Operations` and calls ``wire`` once the services exist;
the app's lifespan calls ``start`` and ``stop``; ``routes`` are mounted next to the public routes.
Without a config file path (tests that build the app in-process) there is no reloader, no usage
file, no request logs and no management API — metrics and tracing still run.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from cliproxy.auth.store import FileStore
from cliproxy.config.reload import Reloader
from cliproxy.config.schema import Config
from cliproxy.config.snapshot import Snapshot, SnapshotHolder
from cliproxy.observe.logs import REDACTOR
from cliproxy.observe.metrics import CONTENT_TYPE, Metrics
from cliproxy.observe.request_log import LOG_DIR, RequestLogger
from cliproxy.observe.usage import UsageWriter, usage_path
from cliproxy.server.management.logs import LogBuffer
from cliproxy.server.observe import Observer

if TYPE_CHECKING:
    from cliproxy.server.management.app import ManagementApp
    from cliproxy.server.management.common import ManagementContext
    from cliproxy.server.management.login import Logins
    from cliproxy.server.services import Services

log = logging.getLogger(__name__)


def snapshot_secrets(snapshot: Snapshot) -> list[str]:
    """Every secret the log redactor must know for this snapshot."""
    config = snapshot.config
    secrets = [*config.api_keys, *(c.access_token for c in snapshot.credentials),
               *(c.refresh_token for c in snapshot.credentials)]
    if config.remote_management.secret_key:
        secrets.append(config.remote_management.secret_key)
    if password := os.environ.get("MANAGEMENT_PASSWORD"):
        secrets.append(password)
    return secrets


class Operations:
    def __init__(self, holder: SnapshotHolder, config_path: Path | None) -> None:
        self.config_path = config_path
        self.metrics = Metrics(self._account_states)
        self.usage = UsageWriter(usage_path(config_path)) if config_path is not None else None
        self.request_log = RequestLogger(config_path.parent / LOG_DIR) if config_path is not None else None
        self.observer = Observer(holder, self.metrics, self.usage, self.request_log)
        self.log_buffer = LogBuffer()
        self.reloader: Reloader | None = None
        self._context: ManagementContext | None = None
        self._logins: Logins | None = None
        self._management: ManagementApp | None = None
        self._services: Services | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    def note_own_write(self, path: Path, digest: str) -> None:
        if self.reloader is not None:
            self.reloader.note_own_write(path, digest)

    def account_store(self, config: Config) -> FileStore:
        """The store the refresher writes through: its writes are announced to the reloader."""
        return FileStore(config.auth_path, on_write=self.note_own_write)

    def wire(self, services: Services) -> None:
        """Create what needs the whole service set: the reloader, and what the management API needs."""
        from cliproxy.server.management.common import ManagementContext

        self._services = services
        if self.config_path is None:
            return
        self.reloader = Reloader(services.holder, self.config_path, live=lambda: services.discovery.live)
        self.reloader.on_swap.append(self._apply)
        self._context = ManagementContext(services, self.reloader, self.usage, self.request_log)

    # The management API and its logins are built on first use: their modules (endpoints, login
    # flows) are about 0.4 MiB that a server nobody manages never loads.

    @property
    def logins(self) -> Logins | None:
        if self._logins is None and self._context is not None:
            from cliproxy.server.management.login import Logins

            self._logins = Logins(self._context)
        return self._logins

    @property
    def management(self) -> ManagementApp | None:
        logins = self.logins
        if self._management is None and self._context is not None and logins is not None:
            from cliproxy.server.management.app import ManagementApp

            self._management = ManagementApp(self._context, logins, self.log_buffer)
        return self._management

    def _apply(self, old: Snapshot, new: Snapshot) -> None:
        """A new snapshot reaches every long-lived component."""
        services = self._services
        assert services is not None
        services.upstream.configure(new.config)
        services.runner.pool.configure(new.config)
        services.runner.pool.update(new.credentials, new.config.routing.strategy)
        services.scheduler.update(new.credentials)
        REDACTOR.register(snapshot_secrets(new))
        if new.config.debug != old.config.debug:
            logging.getLogger().setLevel(logging.DEBUG if new.config.debug else logging.INFO)
        added = {c.id for c in new.credentials} - {c.id for c in old.credentials}
        if added and new.config.models.discovery:
            task = asyncio.ensure_future(self._discover())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _discover(self) -> None:
        assert self._services is not None
        try:
            await self._services.discovery.refresh()
        except Exception:
            log.exception("model discovery for new accounts failed; they use the bundled model list")

    def _account_states(self) -> dict[str, int]:
        from cliproxy.server.management.files import account_states

        if self._services is None:
            return {}
        return account_states(self._services.runner.pool)

    # ---- lifespan ---------------------------------------------------------------------------------

    async def start(self) -> None:
        logging.getLogger().addHandler(self.log_buffer)
        if self.usage is not None:
            self.usage.start()
        if self.reloader is not None:
            await self.reloader.start()

    async def stop(self) -> None:
        if self.reloader is not None:
            await self.reloader.stop()
        if self._logins is not None:
            await self._logins.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self.usage is not None:
            await asyncio.to_thread(self.usage.stop)
        if self.request_log is not None:
            await asyncio.to_thread(self.request_log.close)
        logging.getLogger().removeHandler(self.log_buffer)

    # ---- routes -----------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/metrics", self._metrics, methods=["GET"])]
        if self._context is not None:
            routes += [Mount("/v0/management", app=self._management_app),
                       Route("/codex/callback", self._codex_callback, methods=["GET"])]
        return routes

    async def _management_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        management = self.management
        assert management is not None
        await management(scope, receive, send)

    async def _codex_callback(self, request: Request) -> Response:
        logins = self.logins
        assert logins is not None
        return await logins.callback(request)

    async def _metrics(self, request: Request) -> Response:
        services = self._services
        if services is None or not services.holder.current.config.metrics_enabled:
            raise HTTPException(404)  # answered like any unknown path
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)


__all__ = ["Operations", "snapshot_secrets"]
