"""The state backend the ``state:`` config section asks for."""

from __future__ import annotations

from pathlib import Path

from cliproxy.config.schema import State
from cliproxy.state.base import SharedState
from cliproxy.state.embedded import EmbeddedState

LEASE_DIR = ("leases",)


def build_state(section: State, state_dir: Path | None = None) -> SharedState:
    """``embedded`` (memory and lock files under ``state_dir``) or ``redis``. redis-py is imported
    only when Redis is chosen: an instance on its own never loads it."""
    if section.backend == "redis":
        from cliproxy.state.redis import RedisState

        return RedisState(section.url, prefix=section.prefix, timeout=section.timeout_seconds,
                          queue_max=section.queue_max, usage_max=section.usage_stream_max)
    return EmbeddedState(None if state_dir is None else state_dir.joinpath(*LEASE_DIR))


__all__ = ["build_state"]
