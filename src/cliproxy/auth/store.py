"""Where account records live: one interface, and the default store of one JSON file per account.

``CredentialStore`` is what login, refresh and the CLI talk to; a shared backend (Redis, PostgreSQL)
can implement it later. ``FileStore`` keeps CPA's layout (one JSON file per account) and fixes its two hazards:
files are written with mode 0600, atomically (temp file, fsync, rename), so a crash or a ``kill -9``
leaves the old file or the new one, never a partial one; and each account has a cross-process lock,
so two processes sharing an auth dir never spend the same refresh token twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import filelock
import orjson

LOCK_TIMEOUT = 120.0  # longer than one refresh with its retries (3 × 30 s + waits)
_LOCK_POLL = 0.05


class StoreError(Exception):
    """A store operation failed; the message names the account, never a token."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now (a shared store that is away); trying again later may work."""


def check_name(name: str) -> str:
    """An account's name is a file name in the auth dir (``*.json``, no path, not hidden), in every
    store, so records move between the auth dir and a shared store under the same name."""
    if not name.endswith(".json") or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise StoreError(f"{name!r} is not an account file name")
    return name


class CredentialStore(Protocol):
    """Account records keyed by name (a file name for the file store)."""

    def names(self) -> list[str]:
        """Names of the stored records, sorted; ``read`` skips any that is not a codex account."""
        ...

    def read(self, name: str) -> dict[str, Any] | None:
        """The record, or None when it is missing, unreadable or not a codex record."""
        ...

    def write(self, name: str, record: Mapping[str, Any]) -> None:
        """Replace the record atomically."""
        ...

    def remove(self, name: str) -> bool:
        ...

    def location(self, name: str) -> str:
        """Where the record lives, for messages (a path)."""
        ...

    def lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Exclusive cross-process lock on one account, blocking (CLI use)."""
        ...

    def alock(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        """The same lock for async code: waits without blocking the event loop."""
        ...


def encode_record(record: Mapping[str, Any]) -> bytes:
    """Sorted keys, compact, trailing newline: CPA's login format."""
    return orjson.dumps(dict(record), option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def content_digest(data: bytes) -> str:
    """SHA-256 of file content, so a watcher can tell our own writes from a user's."""
    return hashlib.sha256(data).hexdigest()


def read_record(path: Path) -> dict[str, Any] | None:
    """A codex record, or None for empty, unreadable, non-JSON or other-provider files."""
    try:
        return parse_record(path.read_bytes())
    except OSError:
        return None


def parse_record(raw: bytes) -> dict[str, Any] | None:
    """The codex account record in ``raw``, or None for empty, non-JSON or other-provider content."""
    if not raw.strip():
        return None
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("type") != "codex":
        return None
    return record


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` as a whole: temp file (``mode``, 0600 by default) in the same dir,
    fsync, rename, fsync dir — a reader sees the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode != 0o600:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# A token write takes milliseconds: a temp file this old is what a killed write left behind.
STALE_TEMP_SECONDS = 60.0


class FileStore:
    """One ``*.json`` file per account in the auth dir; names are file names.

    ``on_write(path, digest)`` is called after every write, so a reload watcher can skip the change
    events of the proxy's own writes.
    """

    def __init__(self, auth_dir: Path, *, on_write: Callable[[Path, str], None] | None = None) -> None:
        self.auth_dir = auth_dir
        self._on_write = on_write

    def path(self, name: str) -> Path:
        return self.auth_dir / check_name(name)

    def location(self, name: str) -> str:
        return str(self.path(name))

    def names(self) -> list[str]:
        if not self.auth_dir.is_dir():
            return []
        return sorted(p.name for p in self.auth_dir.glob("*.json")
                      if not p.name.startswith(".") and p.is_file())

    def read(self, name: str) -> dict[str, Any] | None:
        return read_record(self.path(name))

    def write(self, name: str, record: Mapping[str, Any]) -> None:
        path = self.path(name)
        self.ensure_dir()
        data = encode_record({**record, "type": "codex"})
        atomic_write(path, data)
        if self._on_write is not None:
            self._on_write(path, content_digest(data))

    def remove(self, name: str) -> bool:
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(self.auth_dir)
        return True

    def remove_stale_temp_files(self, older_than: float = STALE_TEMP_SECONDS) -> int:
        """Delete what a write killed half-way left behind (``.<name>.json.<random>.tmp``, holding
        tokens); a temp file younger than ``older_than`` seconds may be another process's write in
        progress and is left alone. Returns how many were removed."""
        if not self.auth_dir.is_dir():
            return 0
        cutoff, removed = time.time() - older_than, 0
        for path in self.auth_dir.glob(".*.json.*.tmp"):
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def ensure_dir(self) -> None:
        """Create the auth dir with mode 0700; an existing dir's mode is the user's business."""
        if not self.auth_dir.is_dir():
            self.auth_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.auth_dir, 0o700)

    def _lock_file(self, name: str) -> filelock.FileLock:
        self.path(name)  # validates the name
        locks = self.auth_dir / ".locks"
        if not locks.is_dir():
            self.ensure_dir()
            locks.mkdir(mode=0o700, exist_ok=True)
        return filelock.FileLock(locks / f"{name}.lock", thread_local=False)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        lock = self._lock_file(name)
        try:
            lock.acquire(timeout=LOCK_TIMEOUT)
        except filelock.Timeout:
            raise StoreError(f"account {name} is locked by another process") from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.asynccontextmanager
    async def alock(self, name: str) -> AsyncIterator[None]:
        """Polls a non-blocking acquire, so cancelling the waiter can never leave a lock held."""
        lock = self._lock_file(name)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                lock.acquire(timeout=0)
                break
            except filelock.Timeout:
                if time.monotonic() > deadline:
                    raise StoreError(f"account {name} is locked by another process") from None
                await asyncio.sleep(_LOCK_POLL)
        try:
            yield
        finally:
            lock.release()
