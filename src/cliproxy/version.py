"""Which build of cliproxy this is: the version, and the git commit it was built from.

A wheel carries the commit in ``cliproxy/_commit.py``, written by the build hook (``hatch_build.py``
at the repository root); a checkout (or an editable install) asks ``git describe`` instead. A bug
report that names both tells exactly which code ran.
"""

from __future__ import annotations

import functools
import importlib
import subprocess
from pathlib import Path

from cliproxy import __version__

_CHECKOUT = Path(__file__).resolve().parents[2]


@functools.cache
def commit() -> str:
    """The commit this program was built from (``abc123def456``, ``-dirty`` if edited), or ``""``."""
    try:
        baked: str = importlib.import_module("cliproxy._commit").COMMIT
        return baked
    except (ImportError, AttributeError):
        pass
    if not (_CHECKOUT / ".git").exists():
        return ""
    try:
        done = subprocess.run(["git", "-C", str(_CHECKOUT), "describe", "--always", "--dirty", "--abbrev=12"],
                              capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def version_line() -> str:
    """``cliproxy 0.1.0 (commit abc123def456)``, as ``--version`` prints it."""
    built_from = commit()
    return f"cliproxy {__version__}" + (f" (commit {built_from})" if built_from else "")


__all__ = ["commit", "version_line"]
