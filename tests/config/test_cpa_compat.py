"""A CLIProxyAPI config.yaml with every Codex-path key set, as v7 (flat) and v8 (sectioned): what takes
effect, and exactly which warnings the user gets."""

from __future__ import annotations

from pathlib import Path

from cliproxy.config.edit import with_hashed_secret
from cliproxy.config.load import load_config
from cliproxy.config.schema import Config

V7 = """
host: "0.0.0.0"
port: 8318
tls: {enable: false, cert: "", key: ""}
remote-management: {allow-remote: true, secret-key: "s3cret", disable-control-panel: true,
                    panel-github-repository: "https://github.com/router-for-me/Cli-Proxy-API-Management-Center"}
auth-dir: "~/.cli-proxy-api"
api-keys: ["k1"]
debug: true
pprof: {enable: false, addr: "127.0.0.1:8316"}
plugins: {enabled: false, dir: plugins}
commercial-mode: true
logging-to-file: true
logs-max-total-size-mb: 64
error-logs-max-files: 5
usage-statistics-enabled: true
redis-usage-queue-retention-seconds: 60
proxy-url: "socks5://127.0.0.1:1080"
force-model-prefix: true
passthrough-headers: true
request-retry: 3
max-retry-credentials: 2
max-retry-interval: 30
disable-cooling: true
save-cooldown-status: true
transient-error-cooldown-seconds: 0
disable-image-generation: chat
routing: {strategy: fill-first, session-affinity: true, session-affinity-ttl: 30m}
codex:
  identity-confuse: true
  disable-codex-cloaking: false
  stream-bootstrap-buffering: false
  optimize-multi-agent-v2: false
  live-media-relay: {enabled: false, max-sessions: 32}
ws-auth: true
nonstream-keepalive-interval: 5
streaming: {keepalive-seconds: 10, bootstrap-retries: 2}
codex-header-defaults: {user-agent: "codex-tui/0.170.0", beta-features: "x"}
codex-api-key:
  - {api-key: sk-up, base-url: "https://relay.example/v1", websockets: true, priority: 2}
oauth-model-alias: {codex: [{name: gpt-5.4, alias: fast, fork: true}]}
oauth-excluded-models: {codex: ["gpt-5.1*"]}
payload:
  override: [{models: [{name: "gpt-*", protocol: codex}], params: {"reasoning.effort": high}}]
gemini-api-key: [{api-key: "AIza"}]
quota-exceeded: {switch-project: true}
"""

V8 = """
config-version: 8
server:
  host: "0.0.0.0"
  port: 8318
  trusted-proxies: [127.0.0.1]
  tls: {enable: false}
  commercial-mode: true
access:
  api-keys: ["k1"]
  ws-auth: true
management:
  allow-remote: true
  secret-key: "s3cret"
  disable-control-panel: true
oauth:
  auth-dir: "~/.cli-proxy-api"
  model-alias: {codex: [{name: gpt-5.4, alias: fast, fork: true}]}
  excluded-models: {codex: ["gpt-5.1*"]}
routing: {strategy: fill-first, session-affinity: true, session-affinity-ttl: 30m}
requests:
  proxy-url: "socks5://127.0.0.1:1080"
  force-model-prefix: true
  passthrough-headers: true
  request-retry: 3
  max-retry-credentials: 2
  max-retry-interval: 30
  disable-cooling: true
  nonstream-keepalive-interval: 5
  streaming: {keepalive-seconds: 10, bootstrap-retries: 2}
  payload:
    override: [{models: [{name: "gpt-*", protocol: codex}], params: {"reasoning.effort": high}}]
observability:
  debug: true
  logging-to-file: true
  logs-max-total-size-mb: 64
  error-logs-max-files: 5
  usage-statistics-enabled: true
client:
  codex-header-defaults: {user-agent: "codex-tui/0.170.0", beta-features: "x"}
codex:
  identity-confuse: true
codex-api-key:
  - {api-key: sk-up, base-url: "https://relay.example/v1", websockets: true, priority: 2}
disable-image-generation: chat
plugins: {enabled: false}
gemini-api-key: [{api-key: "AIza"}]
"""

IDENTITY = ("`codex.identity-confuse` is not supported: it would have replaced the session, conversation and "
            "installation ids sent upstream with per-account ones")
KEEPALIVE = ("`nonstream-keepalive-interval` is not supported: it would have written a newline every few seconds "
             "while a non-streaming answer waits; cliproxy answers with the real status instead, so a failure is "
             "never a 200")
COMMERCIAL = ("`commercial-mode` is not supported: it would have turned off the request-logging middleware; leave "
              "`request-log` off for the same effect")


def _load(tmp_path: Path, text: str) -> tuple[Config, list[str]]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, environ={})


def _assert_effective(config: Config) -> None:
    assert (config.host, config.port, config.api_keys) == ("0.0.0.0", 8318, ("k1",))
    assert config.remote_management.allow_remote and config.remote_management.disable_control_panel
    assert config.debug and config.logging_to_file and config.logs_max_total_size_mb == 64
    assert config.error_logs_max_files == 5 and config.usage_statistics_enabled
    assert config.proxy_url == "socks5://127.0.0.1:1080" and config.force_model_prefix and config.passthrough_headers
    assert (config.request_retry, config.max_retry_credentials, config.max_retry_interval) == (3, 2, 30)
    assert config.disable_cooling and config.image_generation_disabled
    assert config.routing.strategy == "fill-first" and config.routing.session_affinity_ttl == "30m"
    assert config.streaming.keepalive_seconds == 10 and config.streaming.bootstrap_retries == 2
    assert config.codex_header_defaults.user_agent == "codex-tui/0.170.0"
    assert config.usable_api_keys()[0].websockets and config.usable_api_keys()[0].priority == 2
    assert config.oauth_model_alias["codex"][0].alias == "fast"
    assert config.oauth_excluded_models["codex"] == ("gpt-5.1*",)
    assert config.payload["override"][0]["params"] == {"reasoning.effort": "high"}
    assert config.ws_auth and config.commercial_mode and config.nonstream_keepalive_interval == 5


def test_a_v7_file_with_every_codex_key(tmp_path: Path) -> None:
    config, warnings = _load(tmp_path, V7)
    _assert_effective(config)
    assert config.remote_management.secret_key == "s3cret"
    assert warnings == ["ignoring keys for other providers: gemini-api-key, quota-exceeded",
                        IDENTITY, KEEPALIVE, COMMERCIAL]


def test_a_v8_sectioned_file_means_the_same(tmp_path: Path) -> None:
    config, warnings = _load(tmp_path, V8)
    _assert_effective(config)
    assert warnings == ["ignoring keys for other providers: gemini-api-key", IDENTITY, KEEPALIVE, COMMERCIAL,
                        "ignoring unknown config keys: server.trusted-proxies"]


def test_the_v8_value_wins_over_the_v7_spelling(tmp_path: Path) -> None:
    config, _ = _load(tmp_path, "port: 1000\nserver: {port: 2000}\nremote-management: {secret-key: a}\n"
                                "management: {allow-remote: true}\n")
    assert config.port == 2000
    assert config.remote_management.secret_key == "a" and config.remote_management.allow_remote


def test_values_that_change_nothing_are_not_warned_about(tmp_path: Path) -> None:
    _, warnings = _load(tmp_path, "codex: {identity-confuse: false}\nnonstream-keepalive-interval: 0\n"
                                  "commercial-mode: false\nredis-usage-queue-retention-seconds: 60\nws-auth: true\n"
                                  "websockets: {enabled: true}\nplugins: {enabled: false}\npprof: {enable: false}\n")
    assert warnings == []
    _, warnings = _load(tmp_path, "redis-usage-queue-retention-seconds: 120\nplugins: {enabled: true}\n")
    assert warnings == [
        "`redis-usage-queue-retention-seconds` is not supported: it would have kept usage records this long in a "
        "Redis queue; cliproxy keeps usage history in usage.sqlite3 (`cliproxy usage`, management `/usage`)",
        "`plugins` is not supported: it would have loaded plugins"]


def test_a_v8_secret_is_hashed_where_it_is_written() -> None:
    text = with_hashed_secret("config-version: 8\nmanagement:\n  secret-key: plain  # the key\n", "$2b$hash")
    assert "secret-key: $2b$hash" in text and "remote-management" not in text and "# the key" in text
