"""YAML aliases are bounded: a few hundred bytes that expand to a billion values are refused at once,
wherever the config is read; ordinary anchors and aliases still load."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from cliproxy.config.edit import load_document
from cliproxy.config.load import load_config
from cliproxy.config.schema import ConfigError
from tests.fakes.codex_backend import FakeCodex
from tests.serve_process import run_configured

# Nine levels of nine aliases: 9^9 (387 million) strings once expanded, in 342 bytes.
BOMB = "".join(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
               for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True))


def test_an_alias_bomb_is_refused_quickly_by_the_loader_and_the_editor(tmp_path: Path) -> None:
    assert len(BOMB) < 500
    path = tmp_path / "config.yaml"
    path.write_text(BOMB)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="aliases expand"):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match="aliases expand"):
        load_document(BOMB)
    assert time.monotonic() - started < 5  # generous: unbounded, this takes minutes and gigabytes


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("allowed-hosts: &hosts [a.example, b.example]\ncors-allow-origins: *hosts\n")
    config, _ = load_config(path, environ={})
    assert list(config.cors_allow_origins) == ["a.example", "b.example"]


def test_management_reads_of_a_bombed_config_file_are_refused(tmp_path: Path, fake: FakeCodex) -> None:
    secret = "mgmt-secret-Zq81"
    with run_configured(tmp_path, fake.url, f'remote-management:\n  secret-key: "{secret}"\n') as proxy:  # type: ignore[attr-defined]
        config_file = proxy.services.ops.config_path
        assert config_file is not None
        config_file.write_text(config_file.read_text() + BOMB)
        headers = {"authorization": f"Bearer {secret}"}
        as_yaml = httpx.get(proxy.url + "/v0/management/config.yaml", headers=headers, timeout=30)
        as_json = httpx.get(proxy.url + "/v0/management/config", headers=headers, timeout=30)
    assert as_yaml.status_code == 409 and "aliases expand" in as_yaml.json()["error"]
    assert as_json.status_code == 200
