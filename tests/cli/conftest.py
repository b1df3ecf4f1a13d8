"""What the setup commands' tests share: a user's HOME, and a server address nothing answers at."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.serving import free_port


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def nowhere() -> str:
    """A server address nothing listens on: the bundled catalogue is used."""
    return f"http://127.0.0.1:{free_port()}"
