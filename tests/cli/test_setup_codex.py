"""Codex CLI takes its model metadata from the catalogue URL ``setup codex`` writes: the tools a
model is offered (the freeform ``apply_patch`` among them), its context window and its efforts.

Without that URL Codex fetches no catalogue for a custom provider with a key, and a model missing
from the catalogue built into Codex gets its fallback metadata, which offers no ``apply_patch`` tool.
So the test reads the URL from the written file and asks it what Codex asks: a GET with
``client_version`` added to the query and the provider's key as a bearer token.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from cliproxy.cli.main import app
from tests.fakes.codex_backend import FakeCodex
from tests.serve_process import run_configured

KEY = "sk-local-0123456789abcdef"
# The fields Codex refuses a catalogue entry without.
CODEX_REQUIRES = {"slug", "display_name", "supported_reasoning_levels", "shell_type", "visibility", "supported_in_api",
                  "priority", "support_verbosity", "truncation_policy", "experimental_supported_tools",
                  "base_instructions"}


@pytest.fixture
def served(tmp_path: Path, fake: FakeCodex) -> Iterator[str]:
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    config = f"api-keys: [{KEY}]\ncodex-api-key:\n  - api-key: upstream-key\n    base-url: {upstream}\n"
    with run_configured(tmp_path, upstream, config) as proxy:
        yield proxy.url


def written_provider(tmp_path: Path, url: str) -> dict[str, Any]:
    """``setup codex --write`` into the Codex home (a new one unless the test made it); the provider
    block Codex will use."""
    home, codex_home = tmp_path / "home", tmp_path / "codex-home"
    home.mkdir()
    if not codex_home.exists():
        codex_home.mkdir()
        (codex_home / "config.toml").write_text('model = "gpt-5.4"\n')
    env = {"HOME": str(home), "CODEX_HOME": str(codex_home), "CLIPROXY_CONFIG": "", "CLIPROXY_AUTH_DIR": ""}
    result = CliRunner().invoke(app, ["setup", "codex", "--write", "--yes", "--url", url, "--key", KEY], env=env)
    assert result.exit_code == 0, result.output
    config = tomllib.loads((codex_home / "config.toml").read_text())
    provider: dict[str, Any] = config["model_providers"][config["model_provider"]]
    return provider


def codex_fetch(provider: dict[str, Any], version: str = "0.171.0") -> httpx.Response:
    """The request Codex sends for its catalogue."""
    return httpx.get(provider["model_catalog_url"], params={"client_version": version},
                     headers={"authorization": f"Bearer {provider['experimental_bearer_token']}"}, timeout=10)


def test_codex_is_pointed_at_a_catalogue_that_offers_gpt_5_4_the_freeform_apply_patch(
        tmp_path: Path, served: str) -> None:
    provider = written_provider(tmp_path, served)
    assert provider["model_catalog_url"] == served + "/v1/models"  # absolute, as Codex requires
    answer = codex_fetch(provider)
    assert answer.status_code == 200
    models = {entry["slug"]: entry for entry in answer.json()["models"]}
    assert models["gpt-5.4"]["apply_patch_tool_type"] == "freeform"
    assert models["gpt-5.4"]["visibility"] == "list"
    assert all(entry.keys() >= CODEX_REQUIRES for entry in models.values())


def test_a_file_written_by_an_earlier_setup_gains_the_catalogue_url_and_keeps_the_rest(
        tmp_path: Path, served: str) -> None:
    """Users who ran ``setup codex`` before get the URL by running it again; their own lines stay."""
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    earlier = (f'model = "gpt-5.4"\nmodel_provider = "cliproxy"\n\n[model_providers.cliproxy]\nname = "cliproxy"\n'
               f'base_url = "{served}/v1"\nwire_api = "responses"\nexperimental_bearer_token = "{KEY}"\n'
               'supports_websockets = true\nstream_idle_timeout_ms = 600000  # mine\n')
    (codex_home / "config.toml").write_text(earlier)
    provider = written_provider(tmp_path, served)
    assert (codex_home / "config.toml").read_text().startswith(earlier)  # only a line added at the block's end
    assert provider["stream_idle_timeout_ms"] == 600000
    assert codex_fetch(provider).status_code == 200
