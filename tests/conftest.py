from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fakes.codex_backend import FakeCodex
from tests.fakes.redis_server import REDIS_PASSWORD, RedisServer, running_redis
from tests.fakes.serving import running_fake
from tests.helpers import Proxy, run_proxy, write_account

# Property tests judge behaviour, not speed: a loaded 2-core CI machine must not fail them on time.
settings.register_profile("cliproxy", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("cliproxy")

TOKEN_A = "tok-a"


@pytest.fixture
def fake() -> Iterator[FakeCodex]:
    with running_fake() as backend:
        yield backend


@pytest.fixture
def auth_dir(tmp_path: Path) -> Path:
    path = tmp_path / "auth"
    write_account(path, "a", TOKEN_A, "acc-1")
    return path


@pytest.fixture
def proxy(fake: FakeCodex, auth_dir: Path) -> Iterator[Proxy]:
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", **{"api-keys": ["sk-local-1"]}) as running:  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def accounts(tmp_path: Path) -> Path:
    """Two accounts, ``a`` (token ``tok-a``, plus) and ``b`` (token ``tok-b``, pro)."""
    auth = tmp_path / "auth"
    write_account(auth, "a", "tok-a", "acc-1", plan="plus")
    write_account(auth, "b", "tok-b", "acc-2", plan="pro")
    return auth


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a loopback port for one test (skipped with a clear message where none
    is installed)."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    with running_redis(workdir) as server:
        yield server



@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server that asks for a password (``REDIS_PASSWORD``), given in its URL as a user
    writes it: what a test checks never shows."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    with running_redis(workdir, password=REDIS_PASSWORD) as server:
        yield server
