"""Request logs: what a request was, where it went, and what the client got back.

With ``request-log: true`` every request gets one file; otherwise only failed requests are written,
as error logs, and only the newest ``error-logs-max-files`` are kept (0 keeps all). Files are mode
0600 and redacted: credentials in headers, token-like JSON fields, and every secret the log
redactor knows are masked before anything reaches the disk. Writing happens on one worker thread,
never on the request path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from cliproxy.observe.logs import REDACTOR

log = logging.getLogger(__name__)

LOG_DIR = "logs"
MAX_SECTION = 4 * 1024 * 1024  # bytes of one body kept in a log file
MASK = "[redacted]"
REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key",
                              "chatgpt-account-id", "cookie", "set-cookie", "x-management-key"})
_SECRET_FIELD = re.compile(r"(?i)(token$|api[-_]?key|secret|password|authorization|cookie)")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass
class RequestLogEntry:
    """Everything one log file says about a request."""

    request_id: str
    started: float
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: Any
    status: int = 0
    error: str = ""
    account: str = ""
    model: str = ""
    upstream_body: Any = None
    response: bytes = b""
    usage: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    ttft_ms: float | None = None


def redact_value(value: Any) -> Any:
    """JSON with the values of secret-named fields masked, recursively."""
    if isinstance(value, dict):
        return {k: MASK if _SECRET_FIELD.search(str(k)) and isinstance(v, str | int) and v != ""
                else redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, MASK if name.lower() in REDACTED_HEADERS else value) for name, value in headers]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bytes):
        data = value[:MAX_SECTION]
        text = data.decode("utf-8", errors="replace")
        return text + ("\n[... truncated]" if len(value) > MAX_SECTION else "")
    return orjson.dumps(redact_value(value), option=orjson.OPT_INDENT_2).decode()[:MAX_SECTION]


def render(entry: RequestLogEntry) -> str:
    """The file's text, redacted."""
    when = datetime.fromtimestamp(entry.started).astimezone().isoformat(timespec="milliseconds")
    headers = "\n".join(f"{name}: {value}" for name, value in redact_headers(entry.headers))
    parts = [
        "=== REQUEST ===",
        f"id: {entry.request_id}", f"time: {when}", f"{entry.method} {entry.url}", headers, "", _text(entry.body),
        "", "=== UPSTREAM ===",
        f"account: {entry.account or '-'}", f"model: {entry.model or '-'}", "body:", _text(entry.upstream_body),
        "", "=== RESPONSE ===",
        f"status: {entry.status}", f"error: {entry.error or '-'}",
        f"duration_ms: {entry.duration_ms:.1f}",
        f"ttft_ms: {'-' if entry.ttft_ms is None else f'{entry.ttft_ms:.1f}'}",
        f"usage: {orjson.dumps(entry.usage).decode() if entry.usage else '-'}", "body:", _text(entry.response),
    ]
    return REDACTOR.redact("\n".join(parts) + "\n")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


class RequestLogger:
    """Writes request and error logs into one directory (``logs/`` next to the config file)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, entry: RequestLogEntry, *, full: bool, max_error_files: int) -> None:
        """Queue the entry: always with ``full``, only failures otherwise."""
        failed = bool(entry.error) or entry.status >= 400
        if not full and not failed:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request-log")
        self._executor.submit(self._write_logged, entry, full, max_error_files)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _write_logged(self, entry: RequestLogEntry, full: bool, max_error_files: int) -> None:
        try:
            self.write(entry, full=full, max_error_files=max_error_files)
        except Exception:
            log.exception("could not write the request log of %s", entry.request_id)

    def write(self, entry: RequestLogEntry, *, full: bool, max_error_files: int) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(entry.started))
        kind = "request" if full else "error"
        path = self.directory / f"{kind}-{stamp}-{entry.request_id}.log"
        _write_private(path, render(entry))
        if not full and max_error_files > 0:
            self._prune_errors(max_error_files)
        return path

    def _prune_errors(self, keep: int) -> None:
        files = sorted(self.directory.glob("error-*.log"), key=lambda p: (p.stat().st_mtime, p.name))
        for old in files[:-keep]:
            with contextlib.suppress(OSError):
                old.unlink()

    def error_logs(self) -> list[dict[str, Any]]:
        if not self.directory.is_dir():
            return []
        files = sorted(self.directory.glob("error-*.log"), key=lambda p: p.name, reverse=True)
        return [{"name": p.name, "size": p.stat().st_size, "modified": int(p.stat().st_mtime)} for p in files]

    def find(self, name: str) -> Path | None:
        """A log file by its name (no paths)."""
        if not _SAFE_NAME.match(name) or not name.endswith(".log"):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def find_by_id(self, request_id: str) -> Path | None:
        if not _SAFE_NAME.match(request_id) or not self.directory.is_dir():
            return None
        return next(iter(sorted(self.directory.glob(f"*-{request_id}.log"))), None)


__all__ = ["RequestLogEntry", "RequestLogger", "redact_headers", "redact_value", "render"]
