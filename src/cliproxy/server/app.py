"""The composition root: every long-lived object of one server process, and the ASGI app over them.

Only this module builds: it creates each component and hands it its collaborators explicitly, so no
module of the server reaches back to another for what it needs (``services.py`` names the objects,
``operations.py`` receives the ones a reload acts on). Imports flow one way, from here downwards.

The management API is imported with everything else (about 0.15 MiB of idle memory, measured) and
built on its first request by :func:`management_api`, the factory ``Operations`` is handed: a server
nobody manages builds no management routes.

The dashboard (``cliproxy.dashboard``) is the one package imported late: on the first request to
``/dashboard`` (or ``/management.html``), by :class:`LazyDashboard`. Its page and assets are files, but
its code is still a package to load, and a server whose dashboard is never opened should not pay for
it in memory (idle RSS measured the same with and without the mount).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cliproxy.amp.routes import AMP_ROUTES
from cliproxy.auth.refresh import Lease, Refresher
from cliproxy.auth.schedule import RefreshScheduler
from cliproxy.auth.store import FileStore
from cliproxy.auth.stores import credential_store, in_redis
from cliproxy.config.reload import Reloader
from cliproxy.config.schema import Config
from cliproxy.config.snapshot import Snapshot, SnapshotHolder
from cliproxy.config.stored_accounts import StoredAccounts
from cliproxy.credential import Credential
from cliproxy.keys.counters import KeyCounters, MemoryCounters
from cliproxy.observe.logs import REDACTOR
from cliproxy.observe.usage_feed import UsageFeed
from cliproxy.pool.core import Pool
from cliproxy.pool.poller import QuotaPoller
from cliproxy.pool.shared import PoolShare
from cliproxy.pool.store import FilePoolStore, keep, state_dir
from cliproxy.runner import Runner
from cliproxy.server.backend_route import BACKEND_ROUTES
from cliproxy.server.discovery import ModelDiscovery
from cliproxy.server.errors import EXCEPTION_HANDLERS
from cliproxy.server.gate import Gate
from cliproxy.server.key_usage_route import KEY_USAGE_ROUTES
from cliproxy.server.management.app import ManagementApp
from cliproxy.server.management.common import ManagementContext
from cliproxy.server.management.login import Logins
from cliproxy.server.management.logs import LogBuffer
from cliproxy.server.operations import Operations
from cliproxy.server.routes import ROUTES
from cliproxy.server.services import Services
from cliproxy.server.status_route import STATUS_ROUTES, remove_server_file, state_status, write_server_file
from cliproxy.server.usage_route import USAGE_ROUTES
from cliproxy.server.websocket.route import WEBSOCKET_ROUTES
from cliproxy.state.base import SharedState
from cliproxy.state.build import build_state
from cliproxy.upstream.codex import CodexUpstream

log = logging.getLogger(__name__)

KEYS_FILE = "keys.json"


def build_services(snapshot: Snapshot, bind_host: str, config_path: Path | None = None) -> Services:
    """Every long-lived object, each given its collaborators; ``config_path`` turns on reload,
    usage history, request logs and the management API."""
    config = snapshot.config
    _sweep_temp_files(config.auth_path)
    holder = SnapshotHolder(snapshot)
    upstream = CodexUpstream(config)
    pool = Pool.from_config(snapshot.credentials, config)
    pool.attach(FilePoolStore.for_auth_dir(config.auth_path))
    discovery = ModelDiscovery(holder, upstream)
    state = build_state(config.state, state_dir(config.auth_path))
    records = _shared_accounts(config, state)
    reloader = None if config_path is None else Reloader(holder, config_path, live=lambda: discovery.live,
                                                         bind_host=bind_host, accounts=records)
    if records is not None and reloader is not None:
        _follow_records(state, reloader, records)
    share = PoolShare(pool, state) if state.backend != "embedded" else None
    refresher = _refresher(config, pool, reloader, state.lease if share is not None else None, records)
    scheduler = RefreshScheduler(refresher)
    counters, key_store = _client_key_counters(config, state)
    ops = Operations(holder, config_path, upstream=upstream, pool=pool, scheduler=scheduler, discovery=discovery,
                     reloader=reloader, management=management_api, counters=counters)
    return Services(holder=holder, upstream=upstream, runner=Runner(upstream, pool, refresher.on_unauthorized),
                    bind_host=bind_host, discovery=discovery, refresher=refresher, scheduler=scheduler, ops=ops,
                    poller=QuotaPoller(pool, upstream, lambda: holder.current.config), counters=counters,
                    key_store=key_store, state=state, share=share,
                    feed=UsageFeed(ops.usage, state) if share is not None and ops.usage is not None else None)


def _client_key_counters(config: Config, state: SharedState) -> tuple[KeyCounters, FilePoolStore | None]:
    """The client keys' counts, as the last run left them in ``<auth-dir>/.state/keys.json``; on Redis
    when the instances share a state, and then no file keeps them."""
    if state.backend == "redis":
        from cliproxy.keys.redis_counters import RedisCounters  # loads redis-py: only when Redis is chosen

        return RedisCounters.sharing(state), None
    store = FilePoolStore(state_dir(config.auth_path) / KEYS_FILE)
    counters = MemoryCounters()
    counters.restore(store.load(), time.time())
    return counters, store


def _sweep_temp_files(auth_dir: Path) -> None:
    """Temp files a token write killed half-way left behind hold tokens: they go on start."""
    swept = FileStore(auth_dir).remove_stale_temp_files()
    if swept:
        log.info("removed %d temp file(s) that an interrupted token write left in the auth dir", swept)


def _shared_accounts(config: Config, state: SharedState) -> StoredAccounts | None:
    """With ``state.accounts: redis``, the accounts in Redis; this instance's own writes carry its
    name in their change notices, so it does not read them back."""
    if not in_redis(config):
        return None
    return StoredAccounts(credential_store(config, origin=state.instance))


def _follow_records(state: SharedState, reloader: Reloader, records: StoredAccounts) -> None:
    """A token another instance refreshed, a login or a removal elsewhere is read again here at its
    notice; every record once Redis is back from an outage (notices sent meanwhile were missed)."""
    state.on_record(lambda name: reloader.reload_later(records.names_for(name), "an account changed elsewhere"))
    state.on_reconnect(lambda: reloader.reload_later(None, "Redis is back"))


def _refresher(config: Config, pool: Pool, reloader: Reloader | None, lease: Lease | None = None,
               records: StoredAccounts | None = None) -> Refresher:
    """A refreshed or failed token reaches the pool at once; the refresher's own writes to account
    files are announced to the reloader, which then does not read them back as a user's change.
    With the accounts in Redis, the store's own lock is the lease every instance takes."""

    def refreshed(credential: Credential) -> None:
        REDACTOR.add([credential.access_token, credential.refresh_token])
        pool.replace(credential)

    def failed(credential: Credential, message: str) -> None:
        log.warning("%s", message)
        if credential.auth_error:
            pool.replace(credential)

    if records is not None:
        return Refresher(config, None, refreshed, failed, store=records.store)
    store = FileStore(config.auth_path, on_write=None if reloader is None else reloader.note_own_write)
    return Refresher(config, None, refreshed, failed, store=store, lease=lease)


def management_api(context: ManagementContext, logins: Logins, log_buffer: LogBuffer) -> ASGIApp:
    """The ``/v0/management`` app, built on its first request."""
    return ManagementApp(context, logins, log_buffer)


class LazyDashboard:
    """The dashboard's ASGI app, imported and built on its first request (module docstring)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            from cliproxy.dashboard.app import DashboardApp  # late on purpose: see the module docstring

            management = self.services.ops.management()
            assert isinstance(management, ManagementApp)
            self.app = DashboardApp(management, self.services.ops.observer, partial(state_status, self.services))
        await self.app(scope, receive, send)


def dashboard_routes(services: Services) -> list[BaseRoute]:
    """``/dashboard`` and CLIProxyAPI's ``/management.html``, where there is a management API."""
    if services.ops.context is None:
        return []
    dashboard = LazyDashboard(services)
    return [Mount("/dashboard", app=dashboard), Route("/management.html", dashboard, methods=["GET"])]


async def _start(services: Services) -> list[asyncio.Task[None]]:
    """Background work of a running server: discovery, refresh, reload, pool state, quota poll."""
    await services.state.start()
    if services.share is not None:
        await services.share.start()
    tasks = [asyncio.create_task(services.discovery.run())]
    if services.feed is not None:
        tasks.append(asyncio.create_task(services.feed.run()))
    if services.share is not None:
        tasks.append(asyncio.create_task(services.share.share_turns()))
    services.scheduler.update(services.holder.current.credentials)
    services.scheduler.start()
    await services.ops.start()
    pool = services.runner.pool
    if pool.store:
        tasks.append(asyncio.create_task(keep(pool, pool.store)))
    if services.key_store is not None and isinstance(services.counters, MemoryCounters):
        tasks.append(asyncio.create_task(keep(services.counters, services.key_store)))
    if services.poller is not None:
        services.poller.start()
    _freeze_startup_objects()
    return tasks


def _freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, config, routes) out of the collector's
    reach. A full collection otherwise walks those ~10^5 objects: the benchmark caught 5–13 ms
    pauses mid-stream, the whole p99 of time to first token at concurrency 1."""
    gc.collect()
    gc.freeze()


async def _stop(services: Services, tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await services.ops.stop()
    if services.poller is not None:
        await services.poller.stop()
    await services.scheduler.stop()
    await services.refresher.aclose()
    await services.upstream.aclose()
    await services.amp.aclose()
    if services.share is not None:
        await services.share.close()
    await services.state.close()


def build_app(services: Services) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = await _start(services)
        local = state_dir(services.holder.current.config.auth_path)
        try:
            app.state.status_token = write_server_file(local, services.bind_host)
        except OSError as exc:
            log.warning("cannot write %s for `cliproxy status`: %s", local, exc)
        try:
            yield
        finally:
            remove_server_file(local, getattr(app.state, "status_token", ""))
            await _stop(services, tasks)

    app = Starlette(routes=[*ROUTES, *USAGE_ROUTES, *KEY_USAGE_ROUTES, *STATUS_ROUTES, *services.ops.routes(),
                            *BACKEND_ROUTES, *AMP_ROUTES, *WEBSOCKET_ROUTES, *dashboard_routes(services)],
                    exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.services = services

    def current_config() -> Config:
        return services.holder.current.config

    return Gate(app, current_config, services.bind_host)
