"""Config: CPA's kebab-case file loads, our defaults apply, bad values name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliproxy.config import ConfigError, config_path, load_config, parse_config

CPA_EXAMPLE = """
host: ""
port: 8317
auth-dir: "~/.cli-proxy-api"
api-keys: ["k1", " k1 ", "k2"]
debug: false
request-retry: 3
max-retry-interval: 30
routing:
  strategy: fill-first
gemini-api-key:
  - api-key: "AIza..."
claude-api-key: []
codex-api-key:
  - api-key: "sk-up"
    base-url: "https://relay.example/v1"
    models: [{name: gpt-5.4, alias: fast}]
  - api-key: "sk-no-base"
oauth-model-alias:
  codex: [{name: gpt-5.4, alias: g54, fork: true}]
"""


def test_cpa_config_loads_and_foreign_keys_warn_once(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CPA_EXAMPLE)
    config, warnings = load_config(path, environ={})
    assert config.api_keys == ("k1", "k2")
    assert config.routing.strategy == "fill-first" and config.request_retry == 3
    assert [e.base_url for e in config.usable_api_keys()] == ["https://relay.example/v1"]
    assert config.oauth_model_alias["codex"][0].fork is True
    assert warnings == ["ignoring keys for other providers: claude-api-key, gemini-api-key"]


def test_defaults_are_ours_where_the_spec_decides() -> None:
    config = parse_config({})
    assert config.host == "127.0.0.1" and config.port == 8317
    assert config.streaming.keepalive_seconds == 15
    assert config.routing.session_affinity is True
    assert config.usage_statistics_enabled is True
    assert config.codex_base_url == "https://chatgpt.com/backend-api/codex"


def test_env_overrides_base_url_and_issuer(tmp_path: Path) -> None:
    config, _ = load_config(tmp_path / "missing.yaml",
                            environ={"CLIPROXY_CODEX_BASE_URL": "http://127.0.0.1:9/x/",
                                     "CLIPROXY_OAUTH_ISSUER": "http://127.0.0.1:8"})
    assert config.codex_base_url == "http://127.0.0.1:9/x"
    assert config.oauth_issuer == "http://127.0.0.1:8"


def test_config_path_precedence() -> None:
    assert config_path("/a.yaml", {"CLIPROXY_CONFIG": "/b.yaml"}) == Path("/a.yaml")
    assert config_path(None, {"CLIPROXY_CONFIG": "/b.yaml"}) == Path("/b.yaml")
    assert config_path(None, {}).name == "config.yaml"


def test_invalid_value_names_key_path() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"codex-api-key": [{"base-url": "x"}], "port": 70000})
    text = str(err.value)
    assert "codex-api-key[0].api-key" in text and "port" in text


def test_config_is_immutable() -> None:
    config = parse_config({})
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        config.port = 1  # type: ignore[misc]
