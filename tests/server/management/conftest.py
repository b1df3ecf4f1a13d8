"""A configured proxy with the management API on, and a client that checks every answer it gets for
the fixture's secrets (tokens, client keys, the management secret): none may ever appear in clear."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy, access_token, write_account
from tests.serve_process import run_configured

SECRET = "mgmt-secret-Zq81"
CLIENT_KEY = "sk-client-key-aaaa1111"
ACCESS_A = access_token("access-a-9f8e7d6c5b4a", "acc-1")
REFRESH_A = "rt_refresh_token_a_11223344556677"
CONFIG = f"""# cliproxy test config
remote-management:
  # the management password
  secret-key: "{SECRET}"
api-keys:
  - {CLIENT_KEY}  # the laptop
"""


@dataclass
class Managed:
    proxy: Proxy
    api: httpx.Client  # authenticated, scanned for secrets
    fake: FakeCodex
    tmp_path: Path
    secrets: list[str]

    @property
    def config_file(self) -> Path:
        path = self.proxy.services.ops.config_path
        assert path is not None
        return path

    def chat(self, key: str = CLIENT_KEY, **extra: object) -> httpx.Response:
        body = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], **extra}
        return httpx.post(self.proxy.v1 + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def scanner(secrets: list[str]) -> httpx.Client:
    def check(response: httpx.Response) -> None:
        response.read()
        text = response.text + "".join(f"{k}: {v}" for k, v in response.headers.items())
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{response.request.method} {response.request.url.path} leaked a secret"

    return httpx.Client(event_hooks={"response": [check]}, timeout=30)


@pytest.fixture
def managed(tmp_path: Path, fake: FakeCodex) -> Iterator[Managed]:
    record = json.loads(write_account(tmp_path / "auth", "a", ACCESS_A, "acc-1", refresh_token=REFRESH_A).read_text())
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, CONFIG) as proxy:
        secrets = [SECRET, CLIENT_KEY, ACCESS_A, REFRESH_A, record["id_token"]]
        with scanner(secrets) as api:
            api.base_url = httpx.URL(proxy.url + "/v0/management")
            api.headers["authorization"] = f"Bearer {SECRET}"
            yield Managed(proxy, api, fake, tmp_path, secrets)
