"""``logging-to-file``: the application log also written to rotating files, within a size cap.

The files are ``cliproxy.log`` and its rotations ``cliproxy.log.1`` … in the ``logs/`` directory next
to the config file, written by the standard library's ``RotatingFileHandler`` behind the same
redacting filter as standard error (mode 0600: a log line may name an account). The cap,
``logs-max-total-size-mb``, bounds those files together: each holds a fifth of it and four
rotations are kept, so the oldest lines go first. ``0`` means no cap, as in CLIProxyAPI: one file
that is never rotated. Both keys apply live.
"""

from __future__ import annotations

import logging
import os
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path

from cliproxy.observe.logs import REDACTOR, log_formatter

LOG_FILE = "cliproxy.log"
ROTATIONS = 4  # files kept besides the current one
MIB = 1024 * 1024


class PrivateRotatingFileHandler(RotatingFileHandler):
    """Every file it opens (the first and each after a rotation) is readable by its owner only."""

    def _open(self) -> TextIOWrapper:
        stream = super()._open()
        os.chmod(self.baseFilename, 0o600)
        return stream


class AppLogFile:
    """The root logger's file handler, added, resized or removed as the config says."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.handler: RotatingFileHandler | None = None
        self._settings: tuple[bool, int] = (False, 0)

    def configure(self, enabled: bool, cap_mb: int) -> None:
        if (enabled, cap_mb) == self._settings:
            return
        self.close()
        self._settings = (enabled, cap_mb)
        if not enabled:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        per_file = cap_mb * MIB // (ROTATIONS + 1)
        handler = PrivateRotatingFileHandler(self.directory / LOG_FILE, maxBytes=per_file,
                                             backupCount=ROTATIONS if per_file else 0, encoding="utf-8")
        handler.setFormatter(log_formatter())
        handler.addFilter(REDACTOR)
        logging.getLogger().addHandler(handler)
        self.handler = handler

    def close(self) -> None:
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.close()
            self.handler = None
        self._settings = (False, 0)


__all__ = ["LOG_FILE", "ROTATIONS", "AppLogFile", "PrivateRotatingFileHandler"]
