"""The long-lived objects a running server shares between requests."""

from __future__ import annotations

from dataclasses import dataclass

from ..auth.refresh import Refresher, RefreshScheduler
from ..runner import Runner
from ..snapshot import SnapshotHolder
from ..upstream.codex import CodexUpstream
from .discovery import ModelDiscovery


@dataclass
class Services:
    holder: SnapshotHolder
    upstream: CodexUpstream
    runner: Runner
    bind_host: str
    discovery: ModelDiscovery
    refresher: Refresher
    scheduler: RefreshScheduler
