"""The operational side of one server: hot reload, usage history, request logs, metrics, management.

The composition root (``server/app.py``) builds an :class:`Operations` with every collaborator it
acts on — the upstream, pool and refresh schedule a new snapshot reaches, the reloader, and the
factory that builds the management API — so this module imports nothing of the server above it.
The app's lifespan calls ``start`` and ``stop``; ``routes`` are mounted next to the public routes.
Without a config file path (tests that build the app in-process) there is no reloader, no usage
file, no request logs and no management API — metrics and tracing still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cliproxy.auth.schedule import RefreshScheduler
from cliproxy.config.reload import Reloader
from cliproxy.config.schema import Config
from cliproxy.config.snapshot import Snapshot, SnapshotHolder
from cliproxy.keys.counters import KeyCounters
from cliproxy.observe.log_files import AppLogFile
from cliproxy.observe.logs import REDACTOR, known_secrets
from cliproxy.observe.metrics import CONTENT_TYPE, Metrics
from cliproxy.observe.request_log import LOG_DIR, RequestLogger
from cliproxy.observe.usage import UsageWriter, usage_path
from cliproxy.pool.core import Pool
from cliproxy.server.discovery import ModelDiscovery
from cliproxy.server.management.common import ManagementContext
from cliproxy.server.management.login import Logins
from cliproxy.server.management.logs import LogBuffer
from cliproxy.server.management.v8 import v8_alias
from cliproxy.server.observe import Observer
from cliproxy.upstream.codex import CodexUpstream

# Builds the ``/v0/management`` app; called on the first management request, at most once.
ManagementFactory = Callable[[ManagementContext, Logins, LogBuffer], ASGIApp]

log = logging.getLogger(__name__)


def account_states(pool: Pool) -> dict[str, int]:
    """Counts per pool state (available, cooling, quota, disabled, needs-login), for ``/metrics``."""
    counts: dict[str, int] = {}
    for account in pool.snapshot().get("accounts", []):
        state = str(account.get("state") or "unknown")
        counts[state] = counts.get(state, 0) + 1
    return counts


class Operations:
    """Reload, observability sinks and the management API of one server, with their routes."""

    def __init__(self, holder: SnapshotHolder, config_path: Path | None, *, upstream: CodexUpstream, pool: Pool,
                 scheduler: RefreshScheduler, discovery: ModelDiscovery, reloader: Reloader | None,
                 management: ManagementFactory, counters: KeyCounters | None = None) -> None:
        self.holder, self.config_path, self.reloader = holder, config_path, reloader
        self._upstream, self._pool, self._scheduler, self._discovery = upstream, pool, scheduler, discovery
        self.metrics = Metrics(lambda: account_states(pool))
        self.usage = UsageWriter(usage_path(config_path)) if config_path is not None else None
        self.request_log = RequestLogger(config_path.parent / LOG_DIR) if config_path is not None else None
        self.observer = Observer(holder, self.metrics, self.usage, self.request_log)
        self.log_buffer = LogBuffer()
        self.app_log = AppLogFile(config_path.parent / LOG_DIR) if config_path is not None else None
        self.context: ManagementContext | None = None
        self.logins: Logins | None = None
        if reloader is not None:
            reloader.on_swap.append(self._apply)
            self.context = ManagementContext(holder, pool, scheduler, reloader, self.usage, self.request_log,
                                             counters=counters, upstream=upstream)
            self.logins = Logins(self.context)
        self._build_management = management
        self._management: ASGIApp | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    def _apply(self, old: Snapshot, new: Snapshot) -> None:
        """A new snapshot reaches every long-lived component."""
        self._upstream.configure(new.config)
        self._scheduler.refresher.configure(new.config)
        self._pool.configure(new.config)
        self._pool.update(new.credentials, new.config.routing.strategy)
        self._scheduler.update(new.credentials)
        REDACTOR.register(known_secrets(new.config, new.credentials))
        if new.config.debug != old.config.debug:
            logging.getLogger().setLevel(logging.DEBUG if new.config.debug else logging.INFO)
        self._log_to_file(new.config)
        added = {c.id for c in new.credentials} - {c.id for c in old.credentials}
        if added and new.config.models.discovery:
            task = asyncio.ensure_future(self._discover())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _discover(self) -> None:
        try:
            await self._discovery.refresh()
        except Exception:
            log.exception("model discovery for new accounts failed; they use the bundled model list")

    # ---- lifespan ---------------------------------------------------------------------------------

    def _log_to_file(self, config: Config) -> None:
        """``logging-to-file`` and its size cap, at start and on every reload."""
        if self.app_log is not None:
            self.app_log.configure(config.logging_to_file, config.logs_max_total_size_mb)

    async def start(self) -> None:
        logging.getLogger().addHandler(self.log_buffer)
        self._log_to_file(self.holder.current.config)
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
        if self.app_log is not None:
            self.app_log.close()

    # ---- routes -----------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/metrics", self._metrics, methods=["GET"])]
        if self.context is not None:
            routes += [Mount("/v0/management", app=self._management_app),
                       Mount("/v8/management", app=v8_alias(self._management_app)),
                       Route("/codex/callback", self._codex_callback, methods=["GET"])]
        return routes

    def management(self) -> ASGIApp:
        """The management app, built now if this is its first use (the dashboard shares it)."""
        if self._management is None:
            assert self.context is not None and self.logins is not None
            self._management = self._build_management(self.context, self.logins, self.log_buffer)
        return self._management

    async def _management_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.management()(scope, receive, send)

    async def _codex_callback(self, request: Request) -> Response:
        assert self.logins is not None
        return await self.logins.callback(request)

    async def _metrics(self, request: Request) -> Response:
        if not self.holder.current.config.metrics_enabled:
            raise HTTPException(404)  # answered like any unknown path
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)


__all__ = ["ManagementFactory", "Operations", "account_states"]
