"""Typed configuration: the YAML file of CLIProxyAPI (kebab-case keys), validated into one frozen object.

An existing CLIProxyAPI ``config.yaml`` must load unchanged, so keys that concern other providers are
accepted and ignored (with one warning), and every key keeps CPA's spelling. Our own defaults differ
from CPA where the spec says **Decision** (loopback bind, keepalives on, session affinity on, usage
statistics on).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CODEX_BASE_URL = "https://chatgpt.com/backend-api/codex"
DEFAULT_OAUTH_ISSUER = "https://auth.openai.com"
DEFAULT_AMP_UPSTREAM = "https://ampcode.com"
# The Codex CLI version whose catalogue shape we ask for (clients.md: Codex CLI 0.169.0).
DEFAULT_CODEX_CLIENT_VERSION = "0.169.0"
DEFAULT_CONFIG_PATH = Path("~/.cli-proxy-api/config.yaml")

# Keys of CLIProxyAPI that concern other providers or features we do not serve: loaded, ignored.
FOREIGN_KEYS = frozenset(
    {
        "gemini-api-key",
        "claude-api-key",
        "vertex-api-key",
        "openai-compatibility",
        "quota-exceeded",
        "claude-header-defaults",
        "plugins",
        "pprof",
        "auth-auto-refresh-workers",
        "enable-gemini-cli-endpoint",
        "gpt-image-2-base-model",
        "generative-language-api-key",
        "antigravity-signature-cache",
        "kimi-api-key",
        "xai-api-key",
        "ws-auth",
        "commercial-mode",
        "redis-usage-queue-retention-seconds",
        "logs-max-total-size-mb",
        "nonstream-keepalive-interval",
    }
)


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Section(BaseModel):
    """Base of every config section: kebab-case keys, frozen, unknown keys kept for the warning."""

    model_config = ConfigDict(
        alias_generator=_kebab, populate_by_name=True, frozen=True, extra="allow"
    )


class TLS(_Section):
    enable: bool = False
    cert: str = ""
    key: str = ""


class RemoteManagement(_Section):
    allow_remote: bool = False
    secret_key: str = ""
    disable_control_panel: bool = False


PreferReset = Literal["off", "short", "long"]


class Routing(_Section):
    strategy: str = "round-robin"
    session_affinity: bool = True
    session_affinity_ttl: str = "1h"
    # Within a priority group, serve first the accounts whose short (5 h) or long (weekly) window
    # resets soonest: their remaining quota is lost at the reset anyway (quota.md §6).
    prefer_earlier_reset: PreferReset = "off"

    @field_validator("prefer_earlier_reset", mode="before")
    @classmethod
    def _off_as_false(cls, value: Any) -> Any:
        """YAML 1.1 readers turn ``off`` into ``false``; both mean off."""
        return "off" if value is False or value is None else value


class Quota(_Section):
    """Where quota data comes from and what clients are shown of it (quota.md §6)."""

    # Seconds between ``GET …/wham/usage`` reads per OAuth account; 0 = never (headers and
    # events still feed the windows).
    poll_interval: float = Field(default=0.0, ge=0)
    # ``pool``: all accounts as one; ``routed``: the account the caller's session is bound to;
    # ``passthrough``: the caller's own request, relayed to the ChatGPT backend.
    client_view: Literal["pool", "routed", "passthrough"] = "pool"
    # Other ``chatgpt_base_url`` paths Codex CLI calls, relayed with the caller's own headers.
    backend_passthrough: bool = True
    # The usage URL to read instead of the one derived from each account's base URL.
    usage_url: str = ""


class Streaming(_Section):
    keepalive_seconds: float = Field(default=15.0, ge=0)
    bootstrap_retries: int = Field(default=0, ge=0)


class Upstream(_Section):
    """Timeouts toward the Codex backend. No read timeout shorter than a long reasoning silence."""

    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    read_timeout_seconds: float = Field(default=600.0, gt=0)
    http2: bool = True  # offered to TLS servers by ALPN; plain http is always HTTP/1.1
    # Idle HTTP/1.1 connections kept per egress. Through a proxy (httpx's own transport) every
    # pooled connection is scanned on each request, so a big idle pool costs CPU there (bench:
    # 19 -> 31 us per event with 50 idle); HTTP/2 upstreams multiplex on one connection.
    max_idle_connections: int = Field(default=16, ge=1)


class CodexModel(_Section):
    name: str
    alias: str = ""


class CodexApiKey(_Section):
    api_key: str
    base_url: str = ""
    prefix: str = ""
    priority: int = 0
    proxy_url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    models: tuple[CodexModel, ...] = ()
    excluded_models: tuple[str, ...] = ()
    disable_cooling: bool = False
    websockets: bool = False


class ModelAlias(_Section):
    name: str
    alias: str
    fork: bool = False


class HeaderDefaults(_Section):
    user_agent: str = ""
    beta_features: str = ""


class CodexOptions(_Section):
    identity_confuse: bool = False


class Models(_Section):
    """Live model discovery from the backend's catalogue (``GET {base}/models``)."""

    discovery: bool = True
    client_version: str = DEFAULT_CODEX_CLIENT_VERSION
    cache_ttl_seconds: float = Field(default=3600.0, ge=0)


class Config(_Section):
    """The whole configuration; one instance is one immutable snapshot of the file."""

    host: str = "127.0.0.1"
    port: int = Field(default=8317, ge=0, le=65535)
    tls: TLS = TLS()
    auth_dir: str = "~/.cli-proxy-api"
    api_keys: tuple[str, ...] = ()
    remote_management: RemoteManagement = RemoteManagement()
    debug: bool = False
    logging_to_file: bool = False
    error_logs_max_files: int = Field(default=10, ge=0)
    request_log: bool = False
    usage_statistics_enabled: bool = True
    proxy_url: str = ""
    force_model_prefix: bool = False
    passthrough_headers: bool = False
    request_retry: int = Field(default=0, ge=0)
    max_retry_credentials: int = Field(default=0, ge=0)
    max_retry_interval: int = Field(default=0, ge=0)
    disable_cooling: bool = False
    disable_image_generation: bool | str = False
    routing: Routing = Routing()
    quota: Quota = Quota()
    codex: CodexOptions = CodexOptions()
    codex_header_defaults: HeaderDefaults = HeaderDefaults()
    codex_api_key: tuple[CodexApiKey, ...] = ()
    oauth_model_alias: dict[str, tuple[ModelAlias, ...]] = Field(default_factory=dict)
    oauth_excluded_models: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    streaming: Streaming = Streaming()
    payload: dict[str, Any] = Field(default_factory=dict)
    ampcode: dict[str, Any] = Field(default_factory=dict)
    # Our own keys.
    codex_base_url: str = DEFAULT_CODEX_BASE_URL
    oauth_issuer: str = DEFAULT_OAUTH_ISSUER
    allowed_hosts: tuple[str, ...] = ()
    cors_allow_origins: tuple[str, ...] = ()
    upstream: Upstream = Upstream()
    models: Models = Models()
    metrics_enabled: bool = False

    @field_validator("api_keys", mode="before")
    @classmethod
    def _clean_keys(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, list | tuple):
            seen: dict[str, None] = {}
            for item in value:
                key = str(item).strip()
                if key:
                    seen[key] = None
            return tuple(seen)
        return value

    @field_validator("codex_base_url", "oauth_issuer")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def auth_path(self) -> Path:
        return Path(os.path.expanduser(self.auth_dir))

    @property
    def image_generation_disabled(self) -> bool:
        return self.disable_image_generation not in (False, "false", "")

    def usable_api_keys(self) -> tuple[CodexApiKey, ...]:
        """``codex-api-key`` entries without ``base-url`` are dropped at load, as CPA does."""
        return tuple(entry for entry in self.codex_api_key if entry.base_url and entry.api_key)


class ConfigError(Exception):
    """A config file that cannot be used; the message names the key and the problem."""


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def _format_validation(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in error.errors():
        lines.append(f"  {_location(tuple(item['loc']))}: {item['msg']}")
    return "\n".join(lines)


def unknown_keys(raw: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Split top-level keys we do not model into (foreign provider keys, truly unknown keys)."""
    known = {_kebab(name) for name in Config.model_fields}
    foreign = sorted(key for key in raw if key in FOREIGN_KEYS)
    unknown = sorted(key for key in raw if key not in known and key not in FOREIGN_KEYS)
    return foreign, unknown


def parse_config(raw: Mapping[str, Any] | None, source: str = "config") -> Config:
    """Validate a parsed YAML mapping; raise ConfigError naming the bad key."""
    data = dict(raw or {})
    for key in FOREIGN_KEYS:
        data.pop(key, None)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, source)) from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; an unreadable or malformed file raises ConfigError with the line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data


def apply_env(config: Config, environ: Mapping[str, str]) -> Config:
    """Environment overrides used by tests, relays and outside checks."""
    updates: dict[str, Any] = {}
    if base := environ.get("CLIPROXY_CODEX_BASE_URL"):
        updates["codex_base_url"] = base.rstrip("/")
    if issuer := environ.get("CLIPROXY_OAUTH_ISSUER"):
        updates["oauth_issuer"] = issuer.rstrip("/")
    if auth_dir := environ.get("CLIPROXY_AUTH_DIR"):
        updates["auth_dir"] = auth_dir
    return config.model_copy(update=updates) if updates else config


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``CLIPROXY_CONFIG``, else ``~/.cli-proxy-api/config.yaml``."""
    chosen = explicit or environ.get("CLIPROXY_CONFIG") or str(DEFAULT_CONFIG_PATH)
    return Path(os.path.expanduser(chosen))


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """Load the config at ``path`` (embedded defaults when the file does not exist).

    Returns the config and the warnings to log (ignored keys).
    """
    env = os.environ if environ is None else environ
    warnings: list[str] = []
    raw: dict[str, Any] = read_yaml(path) if path.exists() else {}
    foreign, unknown = unknown_keys(raw)
    if foreign:
        warnings.append("ignoring keys for other providers: " + ", ".join(foreign))
    if unknown:
        warnings.append("ignoring unknown config keys: " + ", ".join(unknown))
    config = parse_config(raw, str(path))
    return apply_env(config, env), warnings


Strategy = Literal["round-robin", "fill-first", "headroom"]


def normalise_strategy(value: str) -> Strategy:
    """CPA accepts aliases and treats any unknown value as round-robin."""
    lowered = value.strip().lower()
    if lowered in ("fill-first", "fillfirst", "ff"):
        return "fill-first"
    if lowered == "headroom":
        return "headroom"
    return "round-robin"


__all__ = [
    "DEFAULT_CODEX_BASE_URL",
    "CodexApiKey",
    "Config",
    "ConfigError",
    "apply_env",
    "config_path",
    "load_config",
    "normalise_strategy",
    "parse_config",
]
