"""A server on a public address never ends up open to anyone: a file edit or a management change that
drops every client key is refused with the keys kept, and the gate fails closed on its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from cliproxy.config.load import parse_config
from cliproxy.server.gate import Gate
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy, write_account
from tests.serve_process import run_configured, wait_for, write_atomically

SECRET = "mgmt-secret-Zq81"
KEY = "sk-client-key-aaaa1111"
CONFIG = f'remote-management:\n  secret-key: "{SECRET}"\napi-keys:\n  - {KEY}\n'
CHAT = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def public(tmp_path: Path, fake: FakeCodex) -> Iterator[Proxy]:
    """A server that believes it listens on 0.0.0.0, with one client key."""
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with run_configured(tmp_path, fake.url + "/backend-api/codex", CONFIG, bind_host="0.0.0.0") as proxy:  # type: ignore[attr-defined]
        yield proxy


def chat(proxy: Proxy, key: str | None) -> int:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(proxy.v1 + "/chat/completions", json=CHAT, headers=headers, timeout=30).status_code


def manage(proxy: Proxy, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, proxy.url + "/v0/management" + path, timeout=30,
                         headers={"authorization": f"Bearer {SECRET}"}, **kwargs)  # type: ignore[arg-type]


def test_management_cannot_remove_the_last_keys_of_a_public_bind(public: Proxy) -> None:
    config_file = public.services.ops.config_path
    assert config_file is not None
    before = config_file.read_text()
    # When the owner empties the keys, deletes the last one, or uploads a config without them
    emptied = manage(public, "PUT", "/api-keys", json=[])
    deleted = manage(public, "DELETE", "/api-keys", params={"index": "0"})
    uploaded = manage(public, "PUT", "/config.yaml", content=f'remote-management:\n  secret-key: "{SECRET}"\n')
    # Then each is refused with 409, the file is unchanged and the key still rules
    assert [r.status_code for r in (emptied, deleted, uploaded)] == [409, 409, 409]
    assert "api-keys" in emptied.json()["error"]
    assert config_file.read_text() == before
    assert chat(public, None) == 401 and chat(public, KEY) == 200


def test_a_file_edit_that_drops_the_keys_of_a_public_bind_is_refused(public: Proxy,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    config_file = public.services.ops.config_path
    assert config_file is not None
    caplog.set_level(logging.ERROR, logger="cliproxy.config.reload")
    # When the file is saved without its api-keys
    write_atomically(config_file, config_file.read_text().replace(f"api-keys:\n  - {KEY}\n", ""))
    # Then the reload is refused with an error naming the cause, and the old key stays in force
    wait_for(lambda: "refused" in caplog.text, "the reload to be refused")
    assert "without client API keys" in caplog.text
    assert chat(public, None) == 401 and chat(public, KEY) == 200


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("served")(scope, receive, send)


def test_the_gate_serves_only_local_clients_when_a_public_bind_has_no_keys() -> None:
    # Given a gate on 0.0.0.0 that somehow sees a config without keys
    gate = Gate(_app, lambda: parse_config({}), "0.0.0.0")
    # Then a remote client is refused, a local one served
    remote = TestClient(gate, client=("203.0.113.9", 40000)).get("/v1/models")
    local = TestClient(gate, client=("127.0.0.1", 40000)).get("/v1/models")
    assert remote.status_code == 403 and "api-keys" in remote.json()["error"]["message"]
    assert local.status_code == 200 and local.text == "served"
