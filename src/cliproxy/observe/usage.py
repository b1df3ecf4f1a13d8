"""Usage history: every finished request as one row of a local SQLite file, no database server.

The request path only appends a record to an in-memory queue. One thread takes records off the
queue and writes them in batches (one transaction each) to a WAL-mode database, so readers such as
``cliproxy usage`` never block the writer. A locked or unwritable file delays writing — records wait
in memory, bounded, and are retried — but never delays a request; ``stop()`` writes what is queued
before the process exits. Old rows are pruned by age and by file size.

``sqlite3`` is imported where a file is opened: a server with usage statistics off never loads it
(about 1 MiB resident).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cliproxy.config.coerce import as_count

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

FILE_NAME = "usage.sqlite3"
RETENTION_DAYS = 90.0
MAX_BYTES = 256 * 1024 * 1024
MAX_PENDING = 100_000  # records kept in memory while the file cannot be written
FLUSH_INTERVAL = 0.5  # seconds a batch may gather before it is written
BATCH = 500
RETRY_DELAY = 1.0
BUSY_TIMEOUT = 1.0
STOP_TIMEOUT = 10.0
PRUNE_EVERY = 3600.0


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One finished request. ``client_key`` is the client key's name (a plain ``api-keys`` entry: its
    masked text, as older rows hold for every key); token counts come from the upstream usage."""

    ts: float  # start, Unix seconds
    request_id: str
    client_key: str
    account: str
    model: str
    dialect: str
    endpoint: str
    effort: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    total_tokens: int
    ttft_ms: float | None
    duration_ms: float
    status: int
    error: str
    stream: bool


COLUMNS = tuple(f.name for f in fields(UsageRecord))
_INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL, request_id TEXT NOT NULL, client_key TEXT NOT NULL, account TEXT NOT NULL,
    model TEXT NOT NULL, dialect TEXT NOT NULL, endpoint TEXT NOT NULL, effort TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL, total_tokens INTEGER NOT NULL,
    ttft_ms REAL, duration_ms REAL NOT NULL, status INTEGER NOT NULL, error TEXT NOT NULL,
    stream INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
"""


def token_counts(usage: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    """(input, cached, output, reasoning, total) from a Responses ``usage`` object."""
    inputs = usage.get("input_tokens_details")
    outputs = usage.get("output_tokens_details")
    cached = as_count(inputs.get("cached_tokens")) if isinstance(inputs, dict) else 0
    reasoning = as_count(outputs.get("reasoning_tokens")) if isinstance(outputs, dict) else 0
    input_tokens, output_tokens = as_count(usage.get("input_tokens")), as_count(usage.get("output_tokens"))
    total = as_count(usage.get("total_tokens")) or input_tokens + output_tokens
    return input_tokens, cached, output_tokens, reasoning, total


def usage_path(config_path: Path) -> Path:
    """The history lives next to the config file, like the request logs."""
    return config_path.parent / FILE_NAME


def connect(path: Path, timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """Open (creating with mode 0600) the history file in WAL mode with its schema."""
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
    try:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect on a new file
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_SCHEMA)
    except sqlite3.Error:
        conn.close()
        raise
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(f"{path}{suffix}", 0o600)
    return conn


# ---- reading --------------------------------------------------------------------------------------

_SUMS = ("COUNT(*) AS requests, SUM(error != '') AS failed, SUM(input_tokens) AS input_tokens, "
         "SUM(cached_tokens) AS cached_tokens, SUM(output_tokens) AS output_tokens, "
         "SUM(reasoning_tokens) AS reasoning_tokens, SUM(total_tokens) AS total_tokens, "
         "AVG(ttft_ms) AS avg_ttft_ms, AVG(duration_ms) AS avg_duration_ms")
_WINDOW = "ts >= ? AND ts < ?"
_COLUMNS = {
    "day": "date(ts, 'unixepoch', 'localtime')",
    "account": "account",
    "model": "model",
    "key": "client_key",
    "dialect": "dialect",
}
# An hour of the server's clock, named by its start and the clock's UTC offset at the time
# ("2026-12-06T14:00+01:00"), so that the hour repeated when the clock goes back is two rows, in
# order, and a browser in another time zone can place each row on its own clock. The local clock is
# read once per row, as for the days, from the whole second (a fraction would be rounded to the
# millisecond, and 13:59:59.9996 counted in the next hour).
_ZONE = ("printf('%s%02d:%02d', CASE WHEN utc_offset < 0 THEN '-' ELSE '+' END, "
         "abs(utc_offset) / 3600, abs(utc_offset) / 60 % 60)")
_BY_HOUR = (f"SELECT strftime('%Y-%m-%dT%H:00', wall_hour * 3600, 'unixepoch') || {_ZONE} AS hour, {_SUMS} "
            "FROM (SELECT wall / 3600 AS wall_hour, wall - CAST(ts AS INTEGER) AS utc_offset, * "
            "FROM (SELECT CAST(strftime('%s', CAST(ts AS INTEGER), 'unixepoch', 'localtime') AS INTEGER) AS wall, * "
            f"FROM requests WHERE {_WINDOW})) GROUP BY wall_hour, utc_offset ORDER BY MIN(ts)")
# Each grouping's whole query over [since, until): its rows, ordered (``by_<name>`` in a summary).
GROUPS: dict[str, str] = {
    **{name: f"SELECT {column} AS {name}, {_SUMS} FROM requests WHERE {_WINDOW} GROUP BY 1 ORDER BY 1"
       for name, column in _COLUMNS.items()},
    "hour": _BY_HOUR,
}


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    out = []
    for row in cursor.fetchall():
        item = dict(zip(names, row, strict=True))
        for key in ("avg_ttft_ms", "avg_duration_ms"):
            if item.get(key) is not None:
                item[key] = round(item[key], 1)
        for key in ("failed", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens",
                    "total_tokens"):
            item[key] = item.get(key) or 0
        out.append(item)
    return out


def aggregate(conn: sqlite3.Connection, group: str, since: float, until: float) -> list[dict[str, Any]]:
    """Sums per day, hour, account, model, client key or dialect between ``since`` and ``until``."""
    return _rows(conn.execute(GROUPS[group], (since, until)))


def totals(conn: sqlite3.Connection, since: float, until: float) -> dict[str, Any]:
    cursor = conn.execute(f"SELECT {_SUMS} FROM requests WHERE ts >= ? AND ts < ?", (since, until))
    return _rows(cursor)[0]


def summary(path: Path, since: float, until: float,
            groups: Sequence[str] = ("day", "account", "model", "key")) -> dict[str, Any]:
    """Totals and per-group aggregates; an absent file is an empty history."""
    result: dict[str, Any] = {"since": since, "until": until}
    if not path.exists():
        empty = {"requests": 0, "failed": 0, "input_tokens": 0, "cached_tokens": 0, "output_tokens": 0,
                 "reasoning_tokens": 0, "total_tokens": 0, "avg_ttft_ms": None, "avg_duration_ms": None}
        return {**result, "totals": empty, **{f"by_{g}": [] for g in groups}}
    conn = connect(path)
    try:
        result["totals"] = totals(conn, since, until)
        for group in groups:
            result[f"by_{group}"] = aggregate(conn, group, since, until)
    finally:
        conn.close()
    return result


def key_summary(path: Path, key: str, since: float, until: float) -> dict[str, Any]:
    """One client key's totals and its sums per day and per model: what ``GET /v1/usage`` shows its
    holder, and nothing of any other key."""
    result: dict[str, Any] = {"since": since, "until": until, "totals": None, "by_day": [], "by_model": []}
    if not path.exists():
        return result
    conn = connect(path)
    where = "FROM requests WHERE ts >= ? AND ts < ? AND client_key = ?"
    try:
        result["totals"] = _rows(conn.execute(f"SELECT {_SUMS} {where}", (since, until, key)))[0]
        for group in ("day", "model"):
            result[f"by_{group}"] = _rows(conn.execute(
                f"SELECT {_COLUMNS[group]} AS {group}, {_SUMS} {where} GROUP BY 1 ORDER BY 1", (since, until, key)))
    finally:
        conn.close()
    return result


# ---- pruning --------------------------------------------------------------------------------------

def prune(conn: sqlite3.Connection, retention_days: float, max_bytes: int, now: float) -> int:
    """Delete rows older than the retention, then the oldest rows while the data exceeds ``max_bytes``."""
    removed = conn.execute("DELETE FROM requests WHERE ts < ?", (now - retention_days * 86400,)).rowcount
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    used = (conn.execute("PRAGMA page_count").fetchone()[0]
            - conn.execute("PRAGMA freelist_count").fetchone()[0]) * page_size
    if used > max_bytes:
        count = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        excess = int(count * (1 - max_bytes / used)) + 1
        removed += conn.execute("DELETE FROM requests WHERE id IN (SELECT id FROM requests ORDER BY id "
                                "LIMIT ?)", (excess,)).rowcount
    conn.commit()
    if removed:
        conn.execute("PRAGMA incremental_vacuum")
    return removed


# ---- writing --------------------------------------------------------------------------------------

_STOP = object()
Item = UsageRecord | threading.Event | object


class UsageWriter:
    """The queue and the thread that writes it. ``record`` never blocks and never raises."""

    def __init__(self, path: Path, *, retention_days: float = RETENTION_DAYS, max_bytes: int = MAX_BYTES,
                 flush_interval: float = FLUSH_INTERVAL, busy_timeout: float = BUSY_TIMEOUT,
                 retry_delay: float = RETRY_DELAY, max_pending: int = MAX_PENDING) -> None:
        self.path = path
        self.retention_days, self.max_bytes = retention_days, max_bytes
        self._flush_interval, self._busy_timeout = flush_interval, busy_timeout
        self._retry_delay, self._max_pending = retry_delay, max_pending
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending: list[UsageRecord] = []
        self._waiters: list[threading.Event] = []
        self._conn: sqlite3.Connection | None = None
        self._failing = False
        self._last_prune = 0.0
        self._stop_deadline = 0.0
        self.written = self.dropped = 0
        self.tee: Callable[[UsageRecord], None] | None = None  # the shared feed of several instances

    def record(self, record: UsageRecord) -> None:
        self._queue.put(record)
        if self.tee is not None:
            self.tee(record)

    def record_from_elsewhere(self, record: UsageRecord) -> None:
        """Another instance's record, drained from the shared feed: stored here, not fed back."""
        self._queue.put(record)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything recorded so far is in the file; False if it could not be written."""
        if self._thread is None:
            return False
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Write what is queued (retrying a locked file until ``timeout``) and end the thread."""
        if self._thread is None:
            return
        self._stop_deadline = time.monotonic() + timeout
        self._queue.put(_STOP)
        self._thread.join(timeout + 1.0)
        self._thread = None

    # ---- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while True:
            wait = self._retry_delay if self._pending else None
            for item in self._collect(0.05 if stopping else wait):
                if item is _STOP:
                    stopping = True
                elif isinstance(item, threading.Event):
                    self._waiters.append(item)
                elif isinstance(item, UsageRecord):
                    self._pending.append(item)
            if self._pending:
                self._write()
            if not self._pending:
                for waiter in self._waiters:
                    waiter.set()
                self._waiters.clear()
                self._maybe_prune()
            if stopping and (not self._pending or time.monotonic() > self._stop_deadline):
                break
        if self._pending:
            log.error("usage history: %d record(s) could not be written to %s before shutdown",
                      len(self._pending), self.path)
        if self._conn is not None:
            self._conn.close()

    def _collect(self, wait: float | None) -> list[Item]:
        """The next item (waiting up to ``wait``), plus whatever arrives within the flush interval."""
        try:
            items: list[Item] = [self._queue.get(timeout=wait)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._flush_interval
        while len(items) < BATCH and not isinstance(items[-1], threading.Event) and items[-1] is not _STOP:
            left = deadline - time.monotonic()
            try:
                items.append(self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _write(self) -> None:
        import sqlite3

        try:
            if self._conn is None:
                self._conn = connect(self.path, self._busy_timeout)
            with self._conn:
                self._conn.executemany(_INSERT, [astuple(r) for r in self._pending])
        except sqlite3.Error as exc:
            self._write_failed(exc)
            return
        self.written += len(self._pending)
        self._pending.clear()
        if self._failing:
            log.info("usage history: writing to %s again", self.path)
            self._failing = False

    def _write_failed(self, exc: sqlite3.Error) -> None:
        if not self._failing:
            log.warning("usage history: cannot write %s (%s); records wait in memory and are retried",
                        self.path, exc)
            self._failing = True
        if "locked" not in str(exc) and "busy" not in str(exc) and self._conn is not None:
            self._conn.close()
            self._conn = None
        if len(self._pending) > self._max_pending:
            excess = len(self._pending) - self._max_pending
            del self._pending[:excess]
            self.dropped += excess
            log.error("usage history: dropped the %d oldest unwritten record(s)", excess)

    def _maybe_prune(self) -> None:
        import sqlite3

        now = time.time()
        if self._conn is None or now - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = now
        try:
            removed = prune(self._conn, self.retention_days, self.max_bytes, now)
        except sqlite3.Error as exc:
            log.warning("usage history: pruning failed (%s)", exc)
            return
        if removed:
            log.info("usage history: pruned %d old record(s)", removed)


def read_records(path: Path, since: float = 0.0) -> Iterable[UsageRecord]:
    """Every record since ``since``, oldest first (for exports and tests)."""
    conn = connect(path)
    try:
        cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM requests WHERE ts >= ? ORDER BY id", (since,))
        return [UsageRecord(**{**dict(zip(COLUMNS, row, strict=True)), "stream": bool(row[-1])})
                for row in cursor.fetchall()]
    finally:
        conn.close()


__all__ = ["UsageRecord", "UsageWriter", "aggregate", "connect", "key_summary", "prune", "read_records", "summary",
           "token_counts", "usage_path"]
