"""What a running ``cliproxy serve`` keeps in memory: not the libraries it only needs elsewhere.

Each of these was once imported by every server and stayed resident for its whole life: rich and
pygments (httpx's own CLI, our consoles), sqlite3 with usage statistics off, typer (the CLI's
former framework, which imports pydantic to build its commands), pydantic (the config is on
msgspec now), and a WebSocket library (uvicorn's, only ever used to refuse WebSockets).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.codex_backend import FakeCodex
from tests.fakes.serving import free_port
from tests.helpers import write_account

# bcrypt is not listed: cryptography, which PyJWT loads when it is installed (the test extras
# install it), imports bcrypt itself.
NOT_LOADED = ("rich", "pygments", "sqlite3", "typer", "pydantic", "websockets", "wsproto")

# The server as the console script runs it, plus a SIGUSR1 handler that writes sys.modules out.
_WRAPPER = """
import signal, sys
out = sys.argv.pop()
def dump(*_):
    with open(out, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["cliproxy", *sys.argv[1:]]
from cliproxy.cli.main import main
main()
"""


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url + "/healthz")
            return
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)


def _requests(url: str) -> None:
    chat = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert httpx.post(url + "/v1/chat/completions", json=chat).status_code == 200
    messages = {"model": "gpt-5.4", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}],
                "stream": True}
    assert httpx.post(url + "/v1/messages", json=messages, headers={"anthropic-version": "2023-06-01"}
                      ).status_code == 200


@pytest.mark.skipif(sys.platform == "win32", reason="SIGUSR1")
def test_a_serving_process_has_not_loaded_what_it_does_not_use(tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")  # JWT id_token: claims are read at start
    config = tmp_path / "config.yaml"
    config.write_text(f"auth-dir: {tmp_path / 'auth'}\nusage-statistics-enabled: false\n"
                      "models:\n  discovery: false\n")
    port, modules = free_port(), tmp_path / "modules.txt"
    env = {**os.environ, "HOME": str(tmp_path), "CLIPROXY_CONFIG": str(config),
           "CLIPROXY_CODEX_BASE_URL": fake.url + "/backend-api/codex"}  # type: ignore[attr-defined]
    process = subprocess.Popen([sys.executable, "-c", _WRAPPER, "serve", "--port", str(port), str(modules)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        _requests(url)
        process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not modules.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=10)
    names = set(modules.read_text().split())
    loaded = {name.split(".")[0] for name in names}
    assert "cliproxy" in loaded and "uvicorn" in loaded
    assert sorted(loaded & set(NOT_LOADED)) == []

