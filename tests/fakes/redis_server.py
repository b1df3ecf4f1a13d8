"""A real ``redis-server`` on a free loopback port, in a temp dir, nothing saved to disk.

Not a fake: the shared-state tests need Redis's own expiry, pub/sub and scripts. It can be stopped
and started again on the same port (a Redis that blinks). Where ``redis-server`` is not installed the
tests that need it skip, except in CI (``CI`` set), where ``.ci/run`` installs it and a missing one
is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.fakes.serving import free_port

START_DEADLINE = 10.0
REDIS_PASSWORD = "redis-pass-Zq81-never-shown"  # the password of the ``locked_redis`` fixture's server


@dataclass(frozen=True)
class Tls:
    """A TLS-only Redis: its certificate and key, and the CA a client trusts it by."""

    cert: Path
    key: Path
    ca: Path


class RedisServer:
    def __init__(self, binary: str, workdir: Path, *, tls: Tls | None = None, password: str = "") -> None:
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.tls, self.password = tls, password

    @property
    def url(self) -> str:
        """How a user writes it: ``rediss://`` with a CA file for TLS, the password in the URL."""
        auth = f":{self.password}@" if self.password else ""
        if self.tls is None:
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls.ca}"

    def client(self) -> redis.Redis:
        if self.tls is None:
            return redis.Redis(host="127.0.0.1", port=self.port, password=self.password or None)
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password or None, ssl=True,
                           ssl_ca_certs=str(self.tls.ca))

    def _args(self) -> list[str]:
        args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        if self.password:
            args += ["--requirepass", self.password]
        if self.tls is None:
            return ["--port", str(self.port), *args]
        return ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert),
                "--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", "no", *args]

    def start(self) -> None:
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen([self.binary, *self._args()], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_DEADLINE
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """A hard kill: what a crashed or unplugged Redis looks like to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; .ci/run installs it before the tests")
        pytest.skip("redis-server is not installed: the shared-state tests need a real Redis "
                    "(apt-get install redis-server)")
    return binary


@contextmanager
def running_redis(workdir: Path, *, tls: Tls | None = None, password: str = "") -> Iterator[RedisServer]:
    server = RedisServer(redis_binary(), workdir, tls=tls, password=password)
    server.start()
    try:
        yield server
    finally:
        server.stop()
