"""Writing a client's settings file the careful way: show the diff first, keep a timestamped backup
of what was there, write atomically, and do nothing at all when the file already says it.

A settings file may hold the user's own secrets, so a new file is created 0600 and an existing
one keeps its mode.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cliproxy.observe.logs import mask


@dataclass(frozen=True)
class FileEdit:
    """One file's wanted content; ``before`` is None when the file does not exist yet."""

    path: Path
    before: str | None
    after: str
    hidden: tuple[str, ...] = ()  # other secrets the file holds (the user's own), masked in the diff too
    settled: str = "already points at this server"  # said when there is nothing to change

    @property
    def changes(self) -> bool:
        return self.before != self.after

    def diff(self, secret: str = "") -> str:
        """The unified diff of the change, with ``secret`` masked (the diff goes to a terminal)."""
        lines = difflib.unified_diff((self.before or "").splitlines(keepends=True),
                                     self.after.splitlines(keepends=True),
                                     fromfile=str(self.path) if self.before is not None else "/dev/null",
                                     tofile=str(self.path))
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        for value in (secret, *self.hidden):
            text = text.replace(value, mask(value)) if len(value) >= 12 else text  # short: a placeholder
        return text


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def backup_name(path: Path, now: float | None = None) -> Path:
    """``settings.json`` → ``settings.json.bak-20261205-170102`` (a second backup in the same
    second gets ``-2``, so none is overwritten)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    counter = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{counter}")
        counter += 1
    return candidate


def apply(edit: FileEdit) -> Path | None:
    """Write the edit; the backup's path, or None when there was no file before."""
    edit.path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600
    backup = None
    if edit.before is not None:
        mode = edit.path.stat().st_mode & 0o777
        backup = backup_name(edit.path)
        _write(backup, edit.before, mode)
    _write(edit.path, edit.after, mode)
    return backup


def _write(path: Path, text: str, mode: int) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


__all__ = ["FileEdit", "apply", "backup_name", "mask", "read_text"]
