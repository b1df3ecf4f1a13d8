"""Typed configuration: the YAML file of CLIProxyAPI (kebab-case keys), validated into one frozen object.

An existing CLIProxyAPI ``config.yaml`` must load unchanged, so keys that concern other providers are
accepted and ignored (with one warning), and every key keeps CPA's spelling. Our own defaults differ
from CPA where the spec says **Decision** (loopback bind, keepalives on, session affinity on, usage
statistics on).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import msgspec.inspect
import msgspec.json
from msgspec import Meta, field

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


NonNegInt = Annotated[int, Meta(ge=0)]
NonNegFloat = Annotated[float, Meta(ge=0)]
PositiveFloat = Annotated[float, Meta(gt=0)]


class _Section(msgspec.Struct, rename="kebab", frozen=True, kw_only=True):
    """Base of every config section: kebab-case keys in the file, Python names in code, frozen.

    Unknown keys are ignored when decoding; ``unknown_keys`` finds them in the raw mapping to warn.
    """


class TLS(_Section, frozen=True):
    enable: bool = False
    cert: str = ""
    key: str = ""


class RemoteManagement(_Section, frozen=True):
    allow_remote: bool = False
    secret_key: str = ""
    disable_control_panel: bool = False


PreferReset = Literal["off", "short", "long"]


class Routing(_Section, frozen=True):
    strategy: str = "round-robin"
    session_affinity: bool = True
    session_affinity_ttl: str = "1h"
    # Within a priority group, serve first the accounts whose short (5 h) or long (weekly) window
    # resets soonest: their remaining quota is lost at the reset anyway (quota.md §6).
    prefer_earlier_reset: PreferReset = "off"


class Quota(_Section, frozen=True):
    """Where quota data comes from and what clients are shown of it (quota.md §6)."""

    # Seconds between ``GET …/wham/usage`` reads per OAuth account; 0 = never (headers and
    # events still feed the windows).
    poll_interval: NonNegFloat = 0.0
    # ``pool``: all accounts as one; ``routed``: the account the caller's session is bound to;
    # ``passthrough``: the caller's own request, relayed to the ChatGPT backend.
    client_view: Literal["pool", "routed", "passthrough"] = "pool"
    # Other ``chatgpt_base_url`` paths Codex CLI calls, relayed with the caller's own headers.
    backend_passthrough: bool = True
    # The usage URL to read instead of the one derived from each account's base URL.
    usage_url: str = ""


class Streaming(_Section, frozen=True):
    keepalive_seconds: NonNegFloat = 15.0
    bootstrap_retries: NonNegInt = 0


class Upstream(_Section, frozen=True):
    """Timeouts toward the Codex backend. No read timeout shorter than a long reasoning silence."""

    connect_timeout_seconds: PositiveFloat = 10.0
    read_timeout_seconds: PositiveFloat = 600.0
    http2: bool = True  # offered to TLS servers by ALPN; plain http is always HTTP/1.1
    # Idle HTTP/1.1 connections kept per egress. Through a proxy (httpx's own transport) every
    # pooled connection is scanned on each request, so a big idle pool costs CPU there (bench:
    # 19 -> 31 us per event with 50 idle); HTTP/2 upstreams multiplex on one connection.
    max_idle_connections: Annotated[int, Meta(ge=1)] = 16


class CodexModel(_Section, frozen=True):
    name: str
    alias: str = ""


class CodexApiKey(_Section, frozen=True):
    api_key: str
    base_url: str = ""
    prefix: str = ""
    priority: int = 0
    proxy_url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    models: tuple[CodexModel, ...] = ()
    excluded_models: tuple[str, ...] = ()
    disable_cooling: bool = False
    websockets: bool = False


class ModelAlias(_Section, frozen=True):
    name: str
    alias: str
    fork: bool = False


class HeaderDefaults(_Section, frozen=True):
    user_agent: str = ""
    beta_features: str = ""


class CodexOptions(_Section, frozen=True):
    identity_confuse: bool = False


class Models(_Section, frozen=True):
    """Live model discovery from the backend's catalogue (``GET {base}/models``)."""

    discovery: bool = True
    client_version: str = DEFAULT_CODEX_CLIENT_VERSION
    cache_ttl_seconds: NonNegFloat = 3600.0


class Config(_Section, frozen=True):
    """The whole configuration; one instance is one immutable snapshot of the file."""

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8317
    tls: TLS = TLS()
    auth_dir: str = "~/.cli-proxy-api"
    api_keys: tuple[str, ...] = ()
    remote_management: RemoteManagement = RemoteManagement()
    debug: bool = False
    logging_to_file: bool = False
    error_logs_max_files: NonNegInt = 10
    request_log: bool = False
    usage_statistics_enabled: bool = True
    proxy_url: str = ""
    force_model_prefix: bool = False
    passthrough_headers: bool = False
    request_retry: NonNegInt = 0
    max_retry_credentials: NonNegInt = 0
    max_retry_interval: NonNegInt = 0
    disable_cooling: bool = False
    disable_image_generation: bool | str = False
    routing: Routing = Routing()
    quota: Quota = Quota()
    codex: CodexOptions = CodexOptions()
    codex_header_defaults: HeaderDefaults = HeaderDefaults()
    codex_api_key: tuple[CodexApiKey, ...] = ()
    oauth_model_alias: dict[str, tuple[ModelAlias, ...]] = field(default_factory=dict)
    oauth_excluded_models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    streaming: Streaming = Streaming()
    payload: dict[str, Any] = field(default_factory=dict)
    ampcode: dict[str, Any] = field(default_factory=dict)
    # Our own keys.
    codex_base_url: str = DEFAULT_CODEX_BASE_URL
    oauth_issuer: str = DEFAULT_OAUTH_ISSUER
    allowed_hosts: tuple[str, ...] = ()
    cors_allow_origins: tuple[str, ...] = ()
    upstream: Upstream = Upstream()
    models: Models = Models()
    metrics_enabled: bool = False

    def __post_init__(self) -> None:
        """Normalise what every construction (file or code) must agree on: keys, URL ends."""
        keys = dict.fromkeys(key.strip() for key in self.api_keys)
        keys.pop("", None)
        msgspec.structs.force_setattr(self, "api_keys", tuple(keys))
        for name in ("codex_base_url", "oauth_issuer"):
            msgspec.structs.force_setattr(self, name, getattr(self, name).rstrip("/"))

    @property
    def auth_path(self) -> Path:
        return Path(os.path.expanduser(self.auth_dir))

    @property
    def image_generation_disabled(self) -> bool:
        return self.disable_image_generation not in (False, "false", "")

    def usable_api_keys(self) -> tuple[CodexApiKey, ...]:
        """``codex-api-key`` entries without ``base-url`` are dropped at load, as CPA does."""
        return tuple(entry for entry in self.codex_api_key if entry.base_url and entry.api_key)


_S = TypeVar("_S", bound=msgspec.Struct)


class ConfigError(Exception):
    """A config file that cannot be used; the message names the key and the problem."""


# Words YAML 1.1 (and pydantic's lax mode, which this config used to accept) read as booleans; our
# YAML 1.2 reader leaves them strings, so they are turned into booleans where a field is a bool.
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "y": True, "t": True, "1": True,
               "false": False, "no": False, "off": False, "n": False, "f": False, "0": False}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _loosen(value: Any, info: msgspec.inspect.Type, path: str, unknown: list[str]) -> Any:
    """Walk raw YAML data along the config's types: bool words become bools, unknown keys are noted."""
    mi = msgspec.inspect
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        unknown.extend(_join(path, str(key)) for key in value if key not in fields)
        return {key: _loosen(item, fields[key], _join(path, str(key)), unknown) if key in fields else item
                for key, item in value.items()}
    if isinstance(info, mi.VarTupleType | mi.ListType) and isinstance(value, list):
        return [_loosen(item, info.item_type, f"{path}[{i}]", unknown) for i, item in enumerate(value)]
    if isinstance(info, mi.DictType) and isinstance(value, dict):
        return {key: _loosen(item, info.value_type, _join(path, str(key)), unknown) for key, item in value.items()}
    if isinstance(info, mi.BoolType) and isinstance(value, str):
        return _BOOL_WORDS.get(value.strip().lower(), value)
    return value


@cache
def _config_type() -> msgspec.inspect.Type:
    return msgspec.inspect.type_info(Config)


def _prepare(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The raw mapping ready for ``msgspec.convert``, and the unknown key paths found on the way."""
    data = {key: value for key, value in raw.items() if key not in FOREIGN_KEYS}
    keys = data.get("api-keys")
    if keys is None and "api-keys" in data:
        data["api-keys"] = []
    elif isinstance(keys, list | tuple):
        data["api-keys"] = [str(item) for item in keys]
    routing = data.get("routing")
    if isinstance(routing, dict) and routing.get("prefer-earlier-reset", "") in (False, None):
        # YAML 1.1 readers turn ``off`` into ``false``; both mean off.
        data["routing"] = {**routing, "prefer-earlier-reset": "off"}
    unknown: list[str] = []
    return _loosen(data, _config_type(), "", unknown), unknown


def _describe(error: msgspec.ValidationError) -> str:
    """``Expected `int` <= 65535 - at `$.port``` → ``port: Expected `int` <= 65535``."""
    message, _, where = str(error).partition(" - at `")
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    if message.startswith("Object missing required field `"):
        path = _join(path, message.split("`")[1])
        message = "Field required"
    return f"{path or '(top level)'}: {message}"


def _errors(data: dict[str, Any]) -> list[str]:
    """One message per bad top-level key (msgspec stops at the first error; users want them all)."""
    found: list[str] = []
    for key, value in data.items():
        try:
            msgspec.convert({key: value}, Config, strict=False)
        except msgspec.ValidationError as exc:
            found.append(_describe(exc))
    return found


def unknown_keys(raw: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Split keys we do not model into (foreign provider keys, unknown key paths, nested ones too)."""
    foreign = sorted(key for key in raw if key in FOREIGN_KEYS)
    return foreign, sorted(_prepare(raw)[1])


def parse_config(raw: Mapping[str, Any] | None, source: str = "config") -> Config:
    """Validate a parsed YAML mapping; raise ConfigError naming the bad key."""
    data, _unknown = _prepare(raw or {})
    try:
        return msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as exc:
        lines = _errors(data) or [_describe(exc)]
        raise ConfigError("\n  ".join([f"{source}: invalid configuration", *lines])) from None


def updated(section: _S, **changes: Any) -> _S:
    """A copy of a config snapshot or section with some fields replaced (Python names)."""
    return msgspec.structs.replace(section, **changes)


def to_document(section: msgspec.Struct) -> Any:
    """The config (or a section) as JSON data (lists, not tuples) with the file's kebab-case keys."""
    return msgspec.json.decode(msgspec.json.encode(section))


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
    return updated(config, **updates) if updates else config


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
    "to_document",
    "updated",
]
