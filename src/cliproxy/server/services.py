"""The long-lived objects a running server shares between requests.

Built once by the composition root (``server/app.py``); routes reach them through
``request.app.state.services``. This module only names them: it builds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cliproxy.amp.module import AmpModule
from cliproxy.auth.refresh import Refresher
from cliproxy.auth.schedule import RefreshScheduler
from cliproxy.config.snapshot import SnapshotHolder
from cliproxy.keys.counters import KeyCounters, MemoryCounters
from cliproxy.observe.usage_feed import UsageFeed
from cliproxy.pool.poller import QuotaPoller
from cliproxy.pool.shared import PoolShare
from cliproxy.pool.store import PoolStore
from cliproxy.runner import Runner
from cliproxy.server.discovery import ModelDiscovery
from cliproxy.server.operations import Operations
from cliproxy.server.replay_cache import ReasoningReplayCache
from cliproxy.state.base import SharedState
from cliproxy.state.embedded import EmbeddedState
from cliproxy.upstream.codex import CodexUpstream


@dataclass
class Services:
    holder: SnapshotHolder
    upstream: CodexUpstream
    runner: Runner
    bind_host: str
    discovery: ModelDiscovery
    refresher: Refresher
    scheduler: RefreshScheduler
    ops: Operations  # reload, usage history, request logs, metrics, management API
    replay: ReasoningReplayCache = field(default_factory=ReasoningReplayCache)
    poller: QuotaPoller | None = None  # usage reads per account (quota.poll-interval)
    counters: KeyCounters = field(default_factory=MemoryCounters)  # what each client key used
    key_store: PoolStore | None = None  # where the embedded counters are saved between runs
    amp: AmpModule = field(default_factory=AmpModule)  # the Amp routes' settings, secrets and client
    # The pool's shared facts (the ``state:`` section); with Redis, the bridges that use it.
    state: SharedState = field(default_factory=EmbeddedState)
    share: PoolShare | None = None
    feed: UsageFeed | None = None
