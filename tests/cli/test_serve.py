"""``cliproxy serve`` as a real subprocess, as a new user runs it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from websockets.sync.client import connect

from cliproxy.cli.main import app
from cliproxy.observe.logs import REDACTOR
from tests.fakes import codex_events as ev
from tests.fakes.codex_backend import FakeCodex
from tests.fakes.serving import free_port
from tests.helpers import write_account
from tests.serve_process import serve


def run_cli(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**_clean_env(home), **env}
    return subprocess.run([sys.executable, "-m", "cliproxy", *args], capture_output=True, text=True,
                          env=environ, timeout=60)


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")}
    env["HOME"] = str(home)
    return env


def test_serve_with_no_config_prints_next_step_and_answers_healthz(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "cliproxy", "serve", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=_clean_env(tmp_path))
    try:
        banner = [process.stdout.readline() for _ in range(5)]  # type: ignore[union-attr]
        text = "".join(banner)
        assert f"listening on http://127.0.0.1:{port}" in text
        assert "built-in defaults" in text and "(0 found)" in text
        assert "cliproxy login" in text
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        chat = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                          json={"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 503 and "cliproxy login" in chat.json()["error"]["message"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_refuses_public_bind_without_keys(tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), home=tmp_path)
    assert result.returncode == 2
    assert "api-keys" in result.stderr and "Traceback" not in result.stderr


def test_bad_config_names_the_key_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("port: not-a-number\nrouting:\n  session-affinity: maybe\n")
    result = run_cli("serve", "--config", str(config), home=tmp_path)
    assert result.returncode == 2
    assert "port" in result.stderr and "routing.session-affinity" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("port: 8317\napi-keys: [unclosed\n")
    result = run_cli("serve", home=tmp_path, CLIPROXY_CONFIG=str(config))
    assert result.returncode == 2 and "line" in result.stderr and "Traceback" not in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", home=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("cliproxy ")


def test_serve_answers_a_turn_over_a_websocket(tmp_path: Path, fake: FakeCodex) -> None:
    """``cliproxy serve`` loads its WebSocket protocol on the first upgrade: a Codex-style turn over a
    socket streams as frames, and the server goes on serving HTTP."""
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with serve(tmp_path, fake.url + "/backend-api/codex", "api-keys: [k1]\n") as server:  # type: ignore[attr-defined]
        url = server.url.replace("http://", "ws://") + "/v1/responses"
        with connect(url, additional_headers={"authorization": "Bearer k1"}, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "response.create", "model": "gpt-5.4", "input": "hi"}))
            frames = [json.loads(ws.recv(timeout=20)) for _ in range(len(ev.text_stream()) - 2)]
        assert frames[-1]["type"] == "response.completed"  # the two codex.* events are not shown to this client
        assert httpx.get(server.url + "/healthz").status_code == 200
        server.stop()
        log = server.log()
    assert "WebSocket library" not in log and "Unsupported upgrade" not in log


def test_serve_redacts_config_secrets_from_its_first_log_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The management secret and every configured key are known to the redactor before the server
    writes anything, not only after the first reload."""
    secrets = ["client-key-0123456789", "ck-upstream-0123456789", "mgmt-secret-0123456789", "env-password-0123"]
    config = tmp_path / "config.yaml"
    config.write_text(f"auth-dir: {tmp_path / 'auths'}\napi-keys: [{secrets[0]}]\n"
                      f"codex-api-key:\n  - api-key: {secrets[1]}\n    base-url: http://127.0.0.1:1\n"
                      f"remote-management:\n  secret-key: {secrets[2]}\n")
    monkeypatch.setenv("MANAGEMENT_PASSWORD", secrets[3])
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", root.handlers[:])
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: logging.getLogger("uvicorn.error").info(
        "first line: %s", " ".join(secrets)))
    try:
        result = CliRunner().invoke(app, ["serve", "--config", str(config), "--port", str(free_port())])
    finally:
        REDACTOR.register(())
    assert result.exit_code == 0, result.output
    assert "first line" in result.stderr and not [s for s in secrets if s in result.stderr]
