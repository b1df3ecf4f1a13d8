"""A CLIProxyAPI config with the old flat Amp keys (``amp-upstream-url`` …) keeps working, with one warning."""

from __future__ import annotations

from pathlib import Path

import httpx

from cliproxy.config.load import load_config
from tests.fakes.amp import FakeAmp
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import write_account
from tests.serve_process import serve

OPUS = "claude-opus-4-6"


def test_the_old_flat_keys_are_read_as_the_ampcode_section(tmp_path: Path, fake: FakeCodex, amp: FakeAmp) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    config = (f"api-keys: [k1]\namp-upstream-url: {amp.url}\namp-upstream-api-key: up-legacy\n"
              f"amp-model-mappings:\n  - {{from: {OPUS}, to: gpt-5.4}}\n")
    with serve(tmp_path, fake.url + "/backend-api/codex", config) as server:  # type: ignore[attr-defined]
        user = httpx.get(server.url + "/api/user", headers={"authorization": "Bearer k1"})
        message = httpx.post(server.url + "/api/provider/anthropic/v1/messages", headers={"x-api-key": "k1"},
                             json={"model": OPUS, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
        log = server.log()
    assert user.status_code == 200 and amp.seen[0].headers["x-api-key"] == "up-legacy"
    assert message.status_code == 200 and message.json()["model"] == OPUS
    assert fake.inference_requests()[0].body["model"] == "gpt-5.4" and len(amp.seen) == 1
    warnings = [line for line in log.splitlines() if "amp-upstream-url" in line]
    assert len(warnings) == 1
    for new in ("ampcode.upstream-url", "ampcode.upstream-api-key", "ampcode.model-mappings"):
        assert new in warnings[0]
    assert "up-legacy" not in log and "unknown config keys" not in log


def test_the_section_wins_over_an_old_key_it_also_sets(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("amp-upstream-url: https://old.example\namp-restrict-management-to-localhost: true\n"
                    "ampcode:\n  upstream-url: https://ampcode.com\n")
    config, warnings = load_config(path, environ={})
    assert config.ampcode.upstream_url == "https://ampcode.com"
    assert config.ampcode.restrict_management_to_localhost is True
    assert warnings == ["old Amp keys read under `ampcode:`, move them there: amp-upstream-url → "
                        "ampcode.upstream-url (ignored: the section sets it too), "
                        "amp-restrict-management-to-localhost → ampcode.restrict-management-to-localhost"]
