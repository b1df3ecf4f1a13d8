"""Usage history across instances: every instance's records reach every instance's own history.

Each instance appends its records to one shared, bounded feed (a Redis stream, ``SharedState.put_usage``)
besides its own SQLite file, and drains the other instances' records from the feed into that file.
So ``cliproxy usage``, the management API and the dashboard of any instance read the whole
deployment's history from a local file, as with one instance, and an instance that was down catches
up from where it stopped (its place in the feed is kept next to its history file), as long as the
feed still holds it (``state.usage-stream-max`` records).

Records carry their origin: a name derived from the host and the history file, stable across
restarts, so an instance never drains its own records back. Instances must not share one history
file (each has its own config directory), or each would store the others' records twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from cliproxy.observe.usage import UsageRecord, UsageWriter
from cliproxy.state.base import SharedState, StateUnavailable, UsageEntry, opaque

log = logging.getLogger(__name__)

BATCH = 500
IDLE = 0.5  # seconds between reads of a feed that had nothing new
_FIELDS = frozenset(f.name for f in fields(UsageRecord))

__all__ = ["UsageFeed"]


class UsageFeed:
    """Tees this instance's records into the shared feed; drains the others' into the history."""

    def __init__(self, writer: UsageWriter, state: SharedState) -> None:
        self.writer, self.state = writer, state
        self.origin = opaque(socket.gethostname(), str(writer.path.resolve()))
        self._place = writer.path.with_name(writer.path.name + ".feed")
        self.position = _read(self._place)
        writer.tee = self._publish

    def _publish(self, record: UsageRecord) -> None:
        self.state.put_usage({"origin": self.origin, **asdict(record)})

    async def run(self) -> None:
        """Drain until cancelled; a feed that is away is read again when it is back."""
        while True:
            try:
                drained = await self.drain()
            except StateUnavailable:
                drained = 0
            if drained < BATCH:
                await asyncio.sleep(IDLE)

    async def drain(self) -> int:
        """One batch of the feed after our place: the other instances' records go to the history."""
        entries = await self.state.usage_after(self.position, BATCH)
        for entry in entries:
            record = None if self._mine(entry) else _record(entry)
            if record is not None:
                self.writer.record_from_elsewhere(record)
        if entries:
            self.position = entries[-1].position
            await asyncio.to_thread(_write, self._place, self.position)
        return len(entries)

    def _mine(self, entry: UsageEntry) -> bool:
        return entry.record.get("origin") == self.origin


def _record(entry: UsageEntry) -> UsageRecord | None:
    data: dict[str, Any] = entry.record
    if not data.get("origin") or set(_FIELDS) - set(data):
        return None
    try:
        return UsageRecord(**{name: data[name] for name in _FIELDS})
    except TypeError:
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip() or "0"
    except OSError:
        return "0"


def _write(path: Path, position: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(position)
