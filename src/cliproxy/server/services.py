"""The long-lived objects a running server shares between requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cliproxy.auth.refresh import Refresher
from cliproxy.auth.schedule import RefreshScheduler
from cliproxy.config.snapshot import SnapshotHolder
from cliproxy.dialects.anthropic.reasoning_cache import ReasoningReplayCache
from cliproxy.runner import Runner
from cliproxy.server.discovery import ModelDiscovery
from cliproxy.upstream.codex import CodexUpstream

if TYPE_CHECKING:
    from cliproxy.pool.poller import QuotaPoller
    from cliproxy.server.operations import Operations


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
