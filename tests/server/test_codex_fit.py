"""The Codex CLI catalogue fitted to its client: no effort an older client cannot load, never over 1 MiB."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from cliproxy.server.codex_fit import MAX_CATALOGUE_BYTES
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import Proxy, run_proxy

LEVELS = [{"effort": e, "description": e} for e in ("low", "high", "max", "ultra")]


def entry(slug: str, **extra: Any) -> dict[str, Any]:
    return {"slug": slug, "display_name": slug, "context_window": 272000, "supported_reasoning_levels": LEVELS,
            "default_reasoning_level": "ultra", "visibility": "list", "supported_in_api": True, **extra}


def catalogue(proxy: Proxy, version: str) -> httpx.Response:
    return httpx.get(proxy.v1 + "/models?client_version=" + version)


def wait_for(proxy: Proxy, slug: str) -> None:
    deadline = time.monotonic() + 10
    while slug not in {m["slug"] for m in catalogue(proxy, "0.170.0").json()["models"]}:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_older_clients_are_not_sent_efforts_they_cannot_load(fake: FakeCodex, auth_dir: Path) -> None:
    fake.catalogue = {"models": [entry("gpt-live-1")]}
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", models={"discovery": True}) as proxy:  # type: ignore[attr-defined]
        wait_for(proxy, "gpt-live-1")
        old = next(m for m in catalogue(proxy, "0.169.0").json()["models"] if m["slug"] == "gpt-live-1")
        new = next(m for m in catalogue(proxy, "0.170.2").json()["models"] if m["slug"] == "gpt-live-1")
    assert [lv["effort"] for lv in old["supported_reasoning_levels"]] == ["low", "high"]
    assert old["default_reasoning_level"] == "high"
    assert [lv["effort"] for lv in new["supported_reasoning_levels"]] == ["low", "high", "max", "ultra"]
    assert new["default_reasoning_level"] == "ultra"


def test_a_catalogue_over_one_mib_is_cut_hidden_models_first(fake: FakeCodex, auth_dir: Path) -> None:
    prompt = "p" * 60_000
    listed = [entry(f"gpt-big-{i:02}", base_instructions=prompt) for i in range(20)]
    hidden = [entry(f"gpt-hidden-{i}", base_instructions=prompt, visibility="hide") for i in range(5)]
    fake.catalogue = {"models": [*listed, *hidden]}
    with run_proxy(auth_dir, fake.url + "/backend-api/codex", models={"discovery": True}) as proxy:  # type: ignore[attr-defined]
        wait_for(proxy, "gpt-big-00")
        answer = catalogue(proxy, "0.170.0")
    slugs = [m["slug"] for m in answer.json()["models"]]
    assert len(answer.content) <= MAX_CATALOGUE_BYTES
    assert "gpt-big-00" in slugs and not any(s.startswith("gpt-hidden") for s in slugs)
