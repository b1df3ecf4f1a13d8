"""The server with a real config file in a temp dir: ``serve`` runs ``cliproxy serve`` as a subprocess
(file watching, signals, a clean shutdown), ``run_configured`` runs the same app in-process (faster,
and the test can reach its services)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from cliproxy.config.load import load_config
from cliproxy.config.snapshot import Snapshot
from cliproxy.server.app import build_services
from tests.fakes.serving import free_port
from tests.helpers import Proxy, serve_services

T = TypeVar("T")
DEADLINE = 20.0  # generous: a slow CI machine must not fail a test that polls


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    config: Path
    auth_dir: Path
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def chat(self, key: str | None = None, **extra: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        body = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], **extra}
        return httpx.post(self.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)

    def signal(self, number: int = signal.SIGHUP) -> None:
        self.process.send_signal(number)

    def stop(self) -> int:
        """SIGTERM and wait: the clean shutdown a user's Ctrl-C gives."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=20)


def wait_for(check: Callable[[], T | None], what: str, deadline: float = DEADLINE, interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``deadline``."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Callable[[], str]) -> None:
    """Until ``/healthz`` at ``url`` answers 200; a server that exited first fails with its log."""
    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log()}")
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, "the server to start", interval=0.05)


def write_atomically(path: Path, text: str) -> None:
    """What most editors and config tools do: write a temp file, rename it over the target."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


@contextmanager
def serve(tmp_path: Path, upstream_url: str, config_text: str, **env: str) -> Iterator[Server]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir(exist_ok=True)
    config = tmp_path / "conf" / "config.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(config_text)
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_") and k != "MANAGEMENT_PASSWORD"}
    environ.update(HOME=str(home), CLIPROXY_AUTH_DIR=str(auth_dir), CLIPROXY_CODEX_BASE_URL=upstream_url, **env)
    log_file = tmp_path / "server.log"
    with log_file.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "cliproxy", "serve", "--config", str(config),
                                    "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT, env=environ)
    server = Server(f"http://127.0.0.1:{port}", process, config, auth_dir, log_file)
    try:
        wait_healthy(server.url, process, server.log)
        yield server
    finally:
        stop(process)



@contextmanager
def run_configured(tmp_path: Path, upstream_url: str, config_text: str = "", bind_host: str = "127.0.0.1",
                   ) -> Iterator[Proxy]:
    """The app in-process, reading ``config_text`` from ``tmp_path/conf/config.yaml`` (auth dir and
    upstream set in the file itself, so a reload keeps them). It listens on loopback whatever
    ``bind_host`` says; the server is told it listens there."""
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir(exist_ok=True)
    config = tmp_path / "conf" / "config.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(f"auth-dir: {auth_dir}\ncodex-base-url: {upstream_url}\nmodels:\n  discovery: false\n"
                      + config_text)
    loaded, _ = load_config(config, environ={})
    services = build_services(Snapshot.build(loaded), bind_host, config_path=config)
    with serve_services(services) as url:
        yield Proxy(url, services)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server started here, killing it if it has not ended in 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
