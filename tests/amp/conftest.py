"""The Amp module through the real server: the fake Codex backend serves the pool, a fake ampcode.com
records what is forwarded. Client keys ``k1``/``k2``; the Amp key in the config is ``up-1``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.amp import FakeAmp, running_amp
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy, run_proxy

CLIENT_KEYS = ["k1", "k2"]
UPSTREAM_KEY = "up-1"

AmpProxy = Callable[..., AbstractContextManager[Proxy]]


@pytest.fixture
def amp() -> Iterator[FakeAmp]:
    with running_amp() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_amp_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home and no ``AMP_API_KEY``: only what a test sets is there to be found."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("AMP_API_KEY", raising=False)
    return home


@pytest.fixture
def amp_proxy(fake: FakeCodex, auth_dir: Path) -> AmpProxy:
    """``amp_proxy(upstream-url=…, model-mappings=…)``: the server with that ``ampcode`` section."""

    def start(api_keys: list[str] | None = None, **ampcode: Any) -> AbstractContextManager[Proxy]:
        config: dict[str, Any] = {"api-keys": CLIENT_KEYS if api_keys is None else api_keys, "ampcode": ampcode}
        return run_proxy(auth_dir, fake.url + "/backend-api/codex", **config)  # type: ignore[attr-defined]

    return start
