"""Builds the ASGI application from the services of one server process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.types import ASGIApp

from ..auth.refresh import Refresher, RefreshScheduler
from ..config import Config
from ..credentials import Credential
from ..logs import REDACTOR
from ..pool import Pool
from ..runner import Runner
from ..snapshot import Snapshot, SnapshotHolder
from ..upstream.codex import CodexUpstream
from .discovery import ModelDiscovery
from .gate import Gate
from .routes import ROUTES, not_found
from .services import Services

log = logging.getLogger(__name__)


def build_services(snapshot: Snapshot, bind_host: str) -> Services:
    """Wire the long-lived objects: a refreshed or failed token reaches the pool at once."""
    upstream = CodexUpstream(snapshot.config)
    pool = Pool(snapshot.credentials, strategy=snapshot.config.routing.strategy)
    holder = SnapshotHolder(snapshot)

    def refreshed(credential: Credential) -> None:
        REDACTOR.add([credential.access_token, credential.refresh_token])
        pool.replace(credential)

    def failed(credential: Credential, message: str) -> None:
        log.warning("%s", message)
        if credential.auth_error:
            pool.replace(credential)

    refresher = Refresher(snapshot.config, None, refreshed, failed)
    return Services(holder=holder, upstream=upstream, runner=Runner(upstream, pool, refresher.on_unauthorized),
                    bind_host=bind_host, discovery=ModelDiscovery(holder, upstream), refresher=refresher,
                    scheduler=RefreshScheduler(refresher))


def build_app(services: Services) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        discovery = asyncio.create_task(services.discovery.run())
        services.scheduler.update(services.holder.current.credentials)
        services.scheduler.start()
        try:
            yield
        finally:
            discovery.cancel()
            await asyncio.gather(discovery, return_exceptions=True)
            await services.scheduler.stop()
            await services.refresher.aclose()
            await services.upstream.aclose()

    app = Starlette(routes=ROUTES, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
    app.state.services = services

    def current_config() -> Config:
        return services.holder.current.config

    return Gate(app, current_config, services.bind_host)
