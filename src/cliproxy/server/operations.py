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

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from ..auth.store import FileStore
from ..config import Config
from ..logs import REDACTOR
from ..metrics import CONTENT_TYPE, Metrics
from ..reload import Reloader
from ..request_log import LOG_DIR, RequestLogger
from ..snapshot import Snapshot, SnapshotHolder
from ..usage import UsageWriter, usage_path
from .management_logs import LogBuffer
from .observe import Observer

if TYPE_CHECKING:
    from .management import ManagementApp
    from .management_login import Logins
    from .services import Services

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
        self.logins: Logins | None = None
        self.management: ManagementApp | None = None
        self._services: Services | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    def note_own_write(self, path: Path, digest: str) -> None:
        if self.reloader is not None:
            self.reloader.note_own_write(path, digest)

    def account_store(self, config: Config) -> FileStore:
        """The store the refresher writes through: its writes are announced to the reloader."""
        return FileStore(config.auth_path, on_write=self.note_own_write)

    def wire(self, services: Services) -> None:
        """Create what needs the whole service set: reloader and management API."""
        from .management import ManagementApp
        from .management_common import ManagementContext
        from .management_login import Logins

        self._services = services
        if self.config_path is None:
            return
        self.reloader = Reloader(services.holder, self.config_path, live=lambda: services.discovery.live)
        self.reloader.on_swap.append(self._apply)
        context = ManagementContext(services, self.reloader, self.usage, self.request_log)
        self.logins = Logins(context)
        self.management = ManagementApp(context, self.logins, self.log_buffer)

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
        from .management_files import account_states

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
        if self.logins is not None:
            await self.logins.aclose()
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
        if self.management is not None and self.logins is not None:
            routes += [Mount("/v0/management", app=self.management),
                       Route("/codex/callback", self.logins.callback, methods=["GET"])]
        return routes

    async def _metrics(self, request: Request) -> Response:
        from .routes import not_found

        services = self._services
        if services is None or not services.holder.current.config.metrics_enabled:
            return await not_found(request, Exception())
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)


__all__ = ["Operations", "snapshot_secrets"]
