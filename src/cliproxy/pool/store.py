"""Where pool state lives between restarts: one small interface, a state file by default.

The pool keeps its state in memory and hands it over as plain data (``Pool.export_state``); a
``PoolStore`` saves and loads that data. The default writes ``<auth-dir>/.state/pool.json``
atomically (temp file, fsync, rename, mode 0600). It sits in a sub-directory on purpose: the
reload watcher looks at the top-level ``*.json`` files of the auth dir only, so the proxy's own
state writes never look like an account change, and ``cliproxy accounts`` never lists them. A
shared store (Redis, PostgreSQL) for several proxy instances implements the same two methods.

``keep`` runs beside the server and saves at most every ``interval`` seconds when something
changed, off the request path (in a worker thread), and once more at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

import orjson

from cliproxy.auth.store import atomic_write

log = logging.getLogger(__name__)

STATE_DIR = ".state"
POOL_FILE = "pool.json"
SAVE_INTERVAL = 2.0


class PoolStore(Protocol):
    """Saves and loads the pool's state as plain data."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any]) -> None: ...

    def describe(self) -> str: ...


class _StateSource(Protocol):
    dirty: bool

    def export_state(self) -> dict[str, Any]: ...


def state_dir(auth_dir: Path) -> Path:
    """``<auth-dir>/.state``: the proxy's own files, out of the reload watcher's sight."""
    return auth_dir / STATE_DIR


def ensure_private_dir(path: Path) -> Path:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
    return path


class MemoryPoolStore:
    """Keeps the last saved state in memory (tests; a single process that need not survive restarts)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return self.state

    def save(self, state: dict[str, Any]) -> None:
        self.state = state

    def describe(self) -> str:
        return "memory"


class FilePoolStore:
    """The state file, written whole and atomically; an unreadable file is ignored, not fatal."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_auth_dir(cls, auth_dir: Path) -> FilePoolStore:
        return cls(state_dir(auth_dir) / POOL_FILE)

    def load(self) -> dict[str, Any] | None:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("ignoring pool state file %s: %s", self.path, exc)
            return None
        return data if isinstance(data, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        ensure_private_dir(self.path.parent)
        atomic_write(self.path, orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS))

    def describe(self) -> str:
        return str(self.path)

    def age(self) -> float | None:
        """Seconds since the file was written, None when there is none."""
        try:
            return max(0.0, time.time() - self.path.stat().st_mtime)
        except OSError:
            return None


async def save_now(source: _StateSource, store: PoolStore) -> None:
    """Export on the loop (consistent), write in a thread (no disk I/O on the request path)."""
    state = source.export_state()
    try:
        await asyncio.to_thread(store.save, state)
    except OSError as exc:
        source.dirty = True
        log.warning("could not save pool state to %s: %s", store.describe(), exc)


async def keep(source: _StateSource, store: PoolStore, interval: float = SAVE_INTERVAL) -> None:
    """Save when dirty, every ``interval`` seconds, until cancelled; then save once more."""
    try:
        while True:
            await asyncio.sleep(interval)
            if source.dirty:
                await save_now(source, store)
    finally:
        if source.dirty:
            with contextlib.suppress(OSError):
                store.save(source.export_state())
