"""Editing the ``ampcode`` section of config.yaml while the server runs: the next request follows it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fakes.amp import FakeAmp
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy, write_account
from tests.serve_process import run_configured, wait_for, write_atomically

KEY = {"authorization": "Bearer k1"}
OPUS = "claude-opus-4-6"


def config(amp_section: str) -> str:
    return "api-keys: [k1]\n" + (f"ampcode:\n{amp_section}" if amp_section else "")


def rewrite(proxy: Proxy, tmp_path: Path, fake: FakeCodex, amp_section: str) -> None:
    path = tmp_path / "conf" / "config.yaml"
    head = path.read_text().split("api-keys:")[0]
    write_atomically(path, head + config(amp_section))


def opus(proxy: Proxy) -> httpx.Response:
    return httpx.post(proxy.url + "/api/provider/anthropic/v1/messages", headers={"x-api-key": "k1"},
                      json={"model": OPUS, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})


def test_upstream_keys_and_mappings_follow_the_file(tmp_path: Path, fake: FakeCodex, amp: FakeAmp) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    with run_configured(tmp_path, fake.url + "/backend-api/codex", config("")) as proxy:  # type: ignore[attr-defined]
        assert httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 503

        rewrite(proxy, tmp_path, fake, f"  upstream-url: {amp.url}\n  upstream-api-key: up-1\n")
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 200, "the upstream to apply")
        assert amp.seen[-1].headers["x-api-key"] == "up-1"

        rewrite(proxy, tmp_path, fake, f"  upstream-url: {amp.url}\n  upstream-api-key: up-2\n")
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY)
                 and amp.seen[-1].headers["x-api-key"] == "up-2", "the new Amp key to apply")

        mapped = f"  upstream-url: {amp.url}\n  model-mappings:\n    - {{from: {OPUS}, to: gpt-5.4}}\n"
        rewrite(proxy, tmp_path, fake, mapped)
        wait_for(lambda: "x-cliproxy-served-by" not in opus(proxy).headers, "the mapping to apply")
        assert fake.inference_requests()[-1].body["model"] == "gpt-5.4"

        rewrite(proxy, tmp_path, fake, mapped.replace("gpt-5.4", "gpt-5.5"))
        wait_for(lambda: opus(proxy) and fake.inference_requests()[-1].body["model"] == "gpt-5.5",
                 "the changed mapping to apply")

        path = tmp_path / "conf" / "config.yaml"
        path.write_text(path.read_text().split("api-keys:")[0] + "api-keys: [k1]\nampcode: [unclosed\n")
        assert opus(proxy).json()["model"] == OPUS and fake.inference_requests()[-1].body["model"] == "gpt-5.5"

        rewrite(proxy, tmp_path, fake, "  model-mappings: []\n")
        wait_for(lambda: httpx.get(proxy.url + "/api/user", headers=KEY).status_code == 503, "the upstream to go")
        assert opus(proxy).status_code == 404
