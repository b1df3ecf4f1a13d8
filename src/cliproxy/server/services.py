"""The long-lived objects a running server shares between requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..auth.refresh import Refresher, RefreshScheduler
from ..dialects.reasoning_cache import ReasoningReplayCache
from ..runner import Runner
from ..snapshot import SnapshotHolder
from ..upstream.codex import CodexUpstream
from .discovery import ModelDiscovery

if TYPE_CHECKING:
    from ..quota_poll import QuotaPoller
    from .operations import Operations


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
