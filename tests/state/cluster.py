"""Several real ``cliproxy serve`` processes on one Redis and one shared auth dir: a deployment.

Each instance has its own config directory (so its own usage history, as on its own host) and its
own port; they share the accounts' directory and the ``state:`` Redis. The management API is on
(``MANAGEMENT_PASSWORD``) so a test can read each instance's pool.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.serving import free_port
from tests.serve_process import stop, wait_healthy

PASSWORD = "management-secret-for-tests"


@dataclass
class Instance:
    url: str
    process: subprocess.Popen[bytes]
    config: Path
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def chat(self, **extra: Any) -> httpx.Response:
        body = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], **extra}
        return httpx.post(self.url + "/v1/chat/completions", json=body, timeout=60)

    def accounts(self) -> dict[str, dict[str, Any]]:
        """The pool as this instance sees it, per account file."""
        answer = httpx.get(self.url + "/v0/management/auth-files", headers={"authorization": f"Bearer {PASSWORD}"},
                           timeout=10)
        assert answer.status_code == 200, f"{answer.status_code} {answer.text}\n{self.log()}"
        return {item["name"]: item for item in answer.json()["files"]}

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(self.url + "/healthz", timeout=5).json()
        return body


def state_config(redis_url: str, more: str = "") -> str:
    return f"state:\n  backend: redis\n  url: {redis_url}\n  prefix: test\nmodels:\n  discovery: false\n" + more


@contextmanager
def _instance(root: Path, auth_dir: Path, config_text: str, env: dict[str, str]) -> Iterator[Instance]:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yaml"
    config.write_text(config_text)
    port, log_file = free_port(), root / "server.log"
    with log_file.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "cliproxy", "serve", "--config", str(config),
                                    "--port", str(port)], stdout=sink, stderr=subprocess.STDOUT, env=env)
    instance = Instance(f"http://127.0.0.1:{port}", process, config, log_file)
    try:
        yield instance
    finally:
        stop(process)


def _wait_up(instance: Instance) -> None:
    wait_healthy(instance.url, instance.process, instance.log)


def _environ(tmp_path: Path, upstream_url: str, **env: str) -> dict[str, str]:
    home, auth_dir = tmp_path / "home", tmp_path / "auth"
    home.mkdir(exist_ok=True)
    auth_dir.mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_") and k != "MANAGEMENT_PASSWORD"}
    environ.update(HOME=str(home), CLIPROXY_AUTH_DIR=str(auth_dir), CLIPROXY_CODEX_BASE_URL=upstream_url,
                   MANAGEMENT_PASSWORD=PASSWORD, **env)
    return environ


@contextmanager
def cluster(tmp_path: Path, upstream_url: str, config_text: str, count: int = 3, own_auth_dirs: bool = False,
            **env: str) -> Iterator[list[Instance]]:
    """``count`` instances started together, each up (its ``/healthz`` answers) when this yields.
    ``own_auth_dirs``: each instance has its own (empty) auth dir, ``nodeN/auth``, as on its own host."""
    environ = _environ(tmp_path, upstream_url, **env)
    with ExitStack() as stack:
        instances = [stack.enter_context(_instance(tmp_path / f"node{n}", tmp_path / "auth", config_text,
                                                   _own_auth_dir(environ, tmp_path / f"node{n}", own_auth_dirs)))
                     for n in range(count)]
        for instance in instances:
            _wait_up(instance)
        yield instances


def _own_auth_dir(environ: dict[str, str], root: Path, own: bool) -> dict[str, str]:
    if not own:
        return environ
    (root / "auth").mkdir(parents=True, exist_ok=True)
    return {**environ, "CLIPROXY_AUTH_DIR": str(root / "auth")}


@contextmanager
def join(tmp_path: Path, upstream_url: str, config_text: str, name: str, **env: str) -> Iterator[Instance]:
    """One more instance of the same deployment, started now (after the others), up when this yields."""
    with _instance(tmp_path / name, tmp_path / "auth", config_text, _environ(tmp_path, upstream_url, **env)) as late:
        _wait_up(late)
        yield late
