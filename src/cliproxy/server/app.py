"""Builds the ASGI application from the services of one server process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.types import ASGIApp

from ..config import Config
from ..pool import Pool
from ..runner import RefreshFn, Runner
from ..snapshot import Snapshot, SnapshotHolder
from ..upstream.codex import CodexUpstream
from .discovery import ModelDiscovery
from .gate import Gate
from .routes import ROUTES, not_found
from .services import Services


def build_services(snapshot: Snapshot, bind_host: str, refresh: RefreshFn | None = None) -> Services:
    upstream = CodexUpstream(snapshot.config)
    pool = Pool(snapshot.credentials, strategy=snapshot.config.routing.strategy)
    holder = SnapshotHolder(snapshot)
    return Services(holder=holder, upstream=upstream, runner=Runner(upstream, pool, refresh),
                    bind_host=bind_host, discovery=ModelDiscovery(holder, upstream))


def build_app(services: Services) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        discovery = asyncio.create_task(services.discovery.run())
        try:
            yield
        finally:
            discovery.cancel()
            await asyncio.gather(discovery, return_exceptions=True)
            await services.upstream.aclose()

    app = Starlette(routes=ROUTES, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
    app.state.services = services

    def current_config() -> Config:
        return services.holder.current.config

    return Gate(app, current_config, services.bind_host)
