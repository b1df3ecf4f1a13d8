"""``models.catalogue`` / ``models.catalogue-file``: the user's own catalogue in place of the bundled one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from cliproxy.config.load import parse_config
from cliproxy.config.schema import ConfigError
from cliproxy.config.snapshot import Snapshot
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import run_proxy, write_account

OWN = [{"id": "gpt-own-1", "display_name": "Own One", "levels": ["low", "high"], "context_length": 400000},
       {"id": "gpt-5.4"}]


def test_an_inline_catalogue_is_the_model_list(tmp_path: Path) -> None:
    write_account(tmp_path, "a", "tok-a", "acc-1")
    config = parse_config({"auth-dir": str(tmp_path), "models": {"discovery": False, "catalogue": OWN}})
    ids = [m.id for m in Snapshot.build(config).registry.models()]
    assert ids == ["gpt-own-1", "gpt-5.4"]


def test_a_catalogue_file_is_served_to_clients(fake: FakeCodex, auth_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": OWN}))
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_proxy(auth_dir, upstream, models={"discovery": False, "catalogue-file": str(path)}) as proxy:
        listed = [m["id"] for m in httpx.get(proxy.v1 + "/models").json()["data"]]
        codex = httpx.get(proxy.v1 + "/models?client_version=0.170.0").json()["models"]
    assert listed == ["gpt-own-1", "gpt-5.4"]
    own = next(m for m in codex if m["slug"] == "gpt-own-1")
    assert [lv["effort"] for lv in own["supported_reasoning_levels"]] == ["low", "high"]


@pytest.mark.parametrize(("models", "message"), [
    ({"catalogue-file": "/nonexistent/models.json"}, "catalogue-file: cannot read it"),
    ({"catalogue": [{"display_name": "no id"}]}, "each model needs an id"),
])
def test_a_catalogue_that_cannot_be_used_fails_the_load(models: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"models": models})
