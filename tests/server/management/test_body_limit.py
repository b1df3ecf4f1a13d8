"""Management request bodies are bounded by ``limits.request-body-bytes`` like the inference routes:
past it the answer is a 413 in the management API's own ``{"error": ...}`` shape and nothing is saved."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy
from tests.serve_process import run_configured

SECRET = "mgmt-secret-Zq81"
CONFIG = f"""remote-management:
  secret-key: "{SECRET}"
limits:
  request-body-bytes: 1024
"""


@pytest.fixture
def limited(tmp_path: Path, fake: FakeCodex) -> Iterator[tuple[Proxy, httpx.Client]]:
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, CONFIG) as proxy, httpx.Client(timeout=30) as api:
        api.base_url = httpx.URL(proxy.url + "/v0/management")
        api.headers["authorization"] = f"Bearer {SECRET}"
        yield proxy, api


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert "1024 bytes" in response.json()["error"]


def test_a_config_upload_over_the_limit_is_refused_and_the_file_kept(
        limited: tuple[Proxy, httpx.Client], caplog: pytest.LogCaptureFixture) -> None:
    proxy, api = limited
    path = proxy.services.ops.config_path
    assert path is not None
    before = path.read_text()
    with caplog.at_level(logging.WARNING):
        _refused(api.put("/config.yaml", content=before + "#" * 2000))
    assert path.read_text() == before
    assert "limits.request-body-bytes" in caplog.text


def test_a_chunked_json_body_is_cut_at_the_limit(limited: tuple[Proxy, httpx.Client]) -> None:
    _, api = limited

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        yield b'{"value": true, "pad": "'
        for _ in range(64):
            yield b"x" * 100
        yield b'"}'

    _refused(api.put("/debug", content=chunks()))
    assert api.put("/debug", json={"value": True}).json() == {"status": "ok"}


def test_a_multipart_upload_over_the_limit_saves_nothing(limited: tuple[Proxy, httpx.Client], tmp_path: Path) -> None:
    _, api = limited
    record = json.dumps({"type": "codex", "access_token": "x" * 4000})
    _refused(api.post("/auth-files", files={"file": ("codex-big.json", record, "application/json")}))
    assert not (tmp_path / "auth" / "codex-big.json").exists()
