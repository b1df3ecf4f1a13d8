"""Config: CPA's kebab-case file loads, our defaults apply, bad values name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliproxy.config.load import config_path, load_config, parse_config
from cliproxy.config.schema import Config, ConfigError, to_document, updated

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
CPA_EXAMPLE_DATA = {"port": 8317, "api-keys": ["k1"], "routing": {"strategy": "fill-first"},
                    "codex-api-key": [{"api-key": "sk-up", "base-url": "https://relay.example/v1",
                                       "models": [{"name": "gpt-5.4", "alias": "fast"}]}],
                    "oauth-model-alias": {"codex": [{"name": "gpt-5.4", "alias": "g54", "fork": True}]}}


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
    with pytest.raises(Exception):  # noqa: B017 - a frozen struct raises AttributeError
        config.port = 1  # type: ignore[misc]


def test_yaml_values_convert_laxly() -> None:
    config = parse_config({"port": "9000", "debug": "on", "api-keys": None,
                           "streaming": {"keepalive-seconds": 5}, "routing": {"prefer-earlier-reset": False}})
    assert config.port == 9000 and config.debug is True and config.api_keys == ()
    assert config.streaming.keepalive_seconds == 5.0 and config.routing.prefer_earlier_reset == "off"


def test_nested_unknown_keys_are_warned_with_their_path(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("colour: red\nrouting:\n  strategy: fill-first\n  speed: 3\n")
    config, warnings = load_config(path, environ={})
    assert config.routing.strategy == "fill-first"
    assert warnings == ["ignoring unknown config keys: colour, routing.speed"]


def test_negative_and_mistyped_values_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"request-retry": -1, "upstream": {"http2": "maybe"}})
    text = str(err.value)
    assert "request-retry: Expected `int` >= 0" in text and "upstream.http2: Expected `bool`" in text


def test_document_round_trips_and_code_construction_normalises() -> None:
    config = parse_config(CPA_EXAMPLE_DATA)
    assert parse_config(to_document(config)) == config
    built = Config(api_keys=(" a ", "a", ""), codex_base_url="http://x/")
    assert built.api_keys == ("a",) and built.codex_base_url == "http://x"
    assert updated(config, port=1).port == 1 and config.port == 8317
