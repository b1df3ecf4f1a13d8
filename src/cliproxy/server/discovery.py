"""Keep each account's live model catalogue fresh and fold it into the snapshot.

Runs beside the server: discovers at start-up and again every ``models.cache-ttl-seconds``. An
account whose backend does not answer keeps the bundled list; requests never wait for this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from cliproxy.config.catalogue import ModelInfo
from cliproxy.config.models import ModelRegistry
from cliproxy.config.snapshot import Snapshot, SnapshotHolder
from cliproxy.upstream.catalogue import CatalogueCache, discover
from cliproxy.upstream.codex import CodexUpstream

log = logging.getLogger(__name__)
MIN_INTERVAL = 60.0


class ModelDiscovery:
    def __init__(self, holder: SnapshotHolder, upstream: CodexUpstream) -> None:
        self._holder, self._upstream = holder, upstream
        self._cache = CatalogueCache(holder.current.config)
        self.live: dict[str, Sequence[ModelInfo]] = {}

    async def refresh(self) -> None:
        """Discover for every account now and swap in a registry built with what answered."""
        snapshot = self._holder.current
        if not snapshot.config.models.discovery:
            return
        self._cache = CatalogueCache(snapshot.config)
        self.live = dict(await discover(self._cache, snapshot.credentials, self._upstream.client_for))
        current = self._holder.current
        registry = ModelRegistry.build(current.config, current.credentials, self.live)
        self._holder.swap(Snapshot(current.config, current.credentials, registry))
        log.info("model discovery: live catalogue from %d of %d account(s)", len(self.live),
                 len(current.credentials))

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("model discovery failed; keeping the current model list")
            interval = self._holder.current.config.models.cache_ttl_seconds
            await asyncio.sleep(max(MIN_INTERVAL, interval))
