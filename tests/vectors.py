"""The shared translation vectors: cases recorded from the reference proxy, kept beside the checkout.

They live in ``shared/vectors`` next to the repository (the directory holding ``pyproject.toml``), not
inside it, so a checkout without them skips the vector tests instead of failing them.
``CLIPROXY_VECTORS`` names another directory, for a checkout that sits elsewhere.
This module imports nothing of the server, so translator tests stay light.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


def _repository_root() -> Path:
    here = Path(__file__).resolve()
    return next(parent for parent in here.parents if (parent / "pyproject.toml").is_file())


def vectors_dir() -> Path:
    """The vectors directory, or a skip naming where it was looked for."""
    override = os.environ.get("CLIPROXY_VECTORS")
    path = Path(override) if override else _repository_root().parent / "shared" / "vectors"
    if not path.is_dir():
        pytest.skip(f"translation vectors not found at {path} (set CLIPROXY_VECTORS to their directory)")
    return path


def load_vector(name: str) -> dict[str, Any]:
    """One vector file, parsed. The test is skipped when the directory is absent; a file missing from a
    present directory is an error, so a renamed vector cannot silently stop being checked."""
    vector: dict[str, Any] = json.loads((vectors_dir() / name).read_text())
    return vector
