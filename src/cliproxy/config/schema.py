"""Typed configuration: the sections of CLIProxyAPI's YAML file (kebab-case keys) as frozen structs.

Every key keeps CPA's spelling so an existing ``config.yaml`` loads unchanged; reading and
validating the file is ``config.load``. A few of our defaults differ from
CPA's on purpose: loopback bind, keepalives on, session affinity on, usage statistics on.
"""

from __future__ import annotations

import os
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import msgspec.json
from msgspec import Meta, field

from cliproxy.config.ampcode import Ampcode
from cliproxy.config.catalogue_override import configured_catalogue
from cliproxy.config.limits import Limits

DEFAULT_CODEX_BASE_URL = "https://chatgpt.com/backend-api/codex"
DEFAULT_OAUTH_ISSUER = "https://auth.openai.com"
DEFAULT_AMP_UPSTREAM = "https://ampcode.com"
# The Codex CLI version whose catalogue shape we ask for (``models.client-version`` overrides it).
DEFAULT_CODEX_CLIENT_VERSION = "0.171.0"
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
DIRECT = ("direct", "none")  # a proxy-url that means no proxy, whatever the environment says

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
    # resets soonest: their remaining quota is lost at the reset anyway.
    prefer_earlier_reset: PreferReset = "off"


class Quota(_Section, frozen=True):
    """Where quota data comes from and what clients are shown of it (docs/pool.md, "Quota windows")."""

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
    # A PEM bundle trusted besides the default CAs, for upstream and issuer connections (a corporate
    # CA that re-signs TLS); ``system-trust`` uses the operating system's store instead of certifi's.
    ca_file: str = ""
    system_trust: bool = False

    def __post_init__(self) -> None:
        """A CA file that cannot be read fails the load (or the reload), not the first request."""
        if self.ca_file:
            try:
                ssl.create_default_context().load_verify_locations(cafile=os.path.expanduser(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"ca-file: cannot load it as a PEM CA bundle ({type(exc).__name__})") from None


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

    def __post_init__(self) -> None:
        _check_proxy(self.proxy_url)


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
    # A catalogue in place of the bundled one (config/catalogue_override.py): inline, or a JSON file.
    catalogue: tuple[dict[str, Any], ...] = ()
    catalogue_file: str = ""

    def __post_init__(self) -> None:
        """A catalogue that cannot be used fails the load (or the reload), not the first request."""
        configured_catalogue(self.catalogue, self.catalogue_file)


# ---- client keys (``client-keys:``): keys with a name, limits and allowed models ----------------------

KeyWindow = Literal["minute", "hour", "5h", "day", "week"]
EFFORT_CAPS = ("none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra")


class ClientKeyLimit(_Section, frozen=True):
    """One limit of a client key: ``requests`` or ``tokens`` per window, rolling or on the calendar (UTC)."""

    per: KeyWindow
    requests: NonNegInt = 0
    tokens: NonNegInt = 0
    window: Literal["rolling", "calendar"] = "rolling"

    def __post_init__(self) -> None:
        if (self.requests > 0) == (self.tokens > 0):
            raise ValueError("a client-keys limit counts either `requests` or `tokens` (one of them, above 0)")


class ClientKey(_Section, frozen=True):
    """One entry of ``client-keys``. ``key`` is what a user writes by hand; keys created through the
    management API keep only ``key-sha256`` (the key itself is shown once, when it is created)."""

    name: str
    key: str = ""
    key_sha256: str = ""
    expires: str = ""  # ISO 8601 date or date-time; UTC unless it says otherwise
    disabled: bool = False
    models: tuple[str, ...] = ()  # patterns (``*`` matches anything); empty = every model
    max_effort: str = ""
    limits: tuple[ClientKeyLimit, ...] = ()
    show_pool_quota: bool = False  # may read the pool's quota (Codex CLI's usage routes)

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "name", self.name.strip())
        msgspec.structs.force_setattr(self, "key", self.key.strip())
        msgspec.structs.force_setattr(self, "key_sha256", self.key_sha256.strip().lower())
        if not self.name:
            raise ValueError("every client-keys entry needs a `name`")
        if bool(self.key) == bool(self.key_sha256):
            raise ValueError(f"client key {self.name!r}: set exactly one of `key` and `key-sha256`")
        if self.key_sha256 and (len(self.key_sha256) != 64 or not _is_hex(self.key_sha256)):
            raise ValueError(f"client key {self.name!r}: `key-sha256` must be 64 hex digits")
        if self.max_effort and self.max_effort.lower() not in EFFORT_CAPS:
            raise ValueError(f"client key {self.name!r}: `max-effort` must be one of {', '.join(EFFORT_CAPS)}")
        if self.expires:
            expiry_time(self.expires)


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdef" for char in text)


def expiry_time(text: str) -> float:
    """``expires`` as Unix seconds: a date is the start of that day, a time without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expires: {text!r} is not an ISO 8601 date or date-time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def check_client_keys(entries: tuple[ClientKey, ...]) -> None:
    """Names are how keys are listed, counted and managed: each must be unique."""
    seen: set[str] = set()
    for entry in entries:
        if entry.name.lower() in seen:
            raise ValueError(f"client-keys: the name {entry.name!r} is used twice")
        seen.add(entry.name.lower())


STATE_SCHEMES = ("redis", "rediss", "unix")


class State(_Section, frozen=True):
    """Where the pool's shared facts live (docs/scaling.md): this process alone, or Redis for several
    instances. Read at start: changing it needs a restart."""

    backend: Literal["embedded", "redis"] = "embedded"
    # redis://[user:password@]host:port/db, rediss:// for TLS, unix:///path/to/socket.
    url: str = "redis://127.0.0.1:6379/0"
    # Every key and channel starts with this, so deployments can share one Redis.
    prefix: str = "cliproxy"
    # Seconds one Redis command may take before the instance counts Redis as gone for now.
    timeout_seconds: PositiveFloat = 0.5
    # Writes kept while Redis is away (affinity bindings, usage records); account states are kept
    # one per account on top. The oldest go first when full.
    queue_max: Annotated[int, Meta(ge=1)] = 10_000
    # Usage records kept in the shared stream that every instance drains into its own history.
    usage_stream_max: Annotated[int, Meta(ge=1)] = 100_000
    # Where the account records live: the auth dir's files, or Redis (encrypted with accounts-key), for
    # instances that do not share an auth dir.
    accounts: Literal["files", "redis"] = "files"
    # The Fernet key that encrypts account records in Redis (or CLIPROXY_ACCOUNTS_KEY); a secret.
    accounts_key: str = ""

    def __post_init__(self) -> None:
        """A URL Redis cannot use fails the load, naming the key but never the URL (it may hold a
        password)."""
        if self.backend == "redis" and self.url.partition("://")[0].lower() not in STATE_SCHEMES:
            raise ValueError("state.url: expected redis://, rediss:// or unix://")
        if self.accounts == "redis" and self.backend != "redis":
            raise ValueError("state.accounts: redis needs state.backend: redis (the accounts live on that Redis)")


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
    ampcode: Ampcode = Ampcode()
    # Our own keys.
    codex_base_url: str = DEFAULT_CODEX_BASE_URL
    oauth_issuer: str = DEFAULT_OAUTH_ISSUER
    allowed_hosts: tuple[str, ...] = ()
    cors_allow_origins: tuple[str, ...] = ()
    upstream: Upstream = Upstream()
    models: Models = Models()
    metrics_enabled: bool = False
    limits: Limits = Limits()
    client_keys: tuple[ClientKey, ...] = ()
    state: State = State()
    # CLIProxyAPI keys read for compatibility; docs/config.md says what each does here.
    logs_max_total_size_mb: NonNegInt = 0
    nonstream_keepalive_interval: NonNegInt = 0
    ws_auth: bool = False
    commercial_mode: bool = False
    redis_usage_queue_retention_seconds: NonNegInt = 60
    websockets: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Normalise what every construction (file or code) must agree on: keys, URL ends."""
        check_client_keys(self.client_keys)
        keys = dict.fromkeys(key.strip() for key in self.api_keys)
        keys.pop("", None)
        msgspec.structs.force_setattr(self, "api_keys", tuple(keys))
        for name in ("codex_base_url", "oauth_issuer"):
            msgspec.structs.force_setattr(self, name, getattr(self, name).rstrip("/"))
        _check_proxy(self.proxy_url)

    @property
    def requires_key(self) -> bool:
        """Whether clients must present a key: ``api-keys`` or ``client-keys`` is set."""
        return bool(self.api_keys or self.client_keys)

    @property
    def auth_path(self) -> Path:
        return Path(os.path.expanduser(self.auth_dir))

    @property
    def image_generation_disabled(self) -> bool:
        return self.disable_image_generation not in (False, "false", "")

    def usable_api_keys(self) -> tuple[CodexApiKey, ...]:
        """``codex-api-key`` entries without ``base-url`` are dropped at load, as CPA does."""
        return tuple(entry for entry in self.codex_api_key if entry.base_url and entry.api_key)


def proxy_problem(proxy: str) -> str:
    """Why ``proxy`` cannot be a ``proxy-url``, or ``""`` when it can. Never quotes the value: it
    may hold a password."""
    proxy = proxy.strip()
    if not proxy or proxy in DIRECT:
        return ""
    scheme, _, rest = proxy.partition("://")
    if scheme.lower() in PROXY_SCHEMES and rest.strip("/"):
        return ""
    return "proxy-url: expected http://, https://, socks5:// or socks5h:// and a host, or direct"


def _check_proxy(proxy: str) -> None:
    problem = proxy_problem(proxy)
    if problem:
        raise ValueError(problem)


_S = TypeVar("_S", bound=msgspec.Struct)


class ConfigError(Exception):
    """A config file that cannot be used; the message names the key and the problem."""


def updated(section: _S, **changes: Any) -> _S:
    """A copy of a config snapshot or section with some fields replaced (Python names)."""
    return msgspec.structs.replace(section, **changes)


def to_document(section: msgspec.Struct) -> Any:
    """The config (or a section) as JSON data (lists, not tuples) with the file's kebab-case keys."""
    return msgspec.json.decode(msgspec.json.encode(section))


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
    "DIRECT",
    "ClientKey",
    "ClientKeyLimit",
    "CodexApiKey",
    "Config",
    "ConfigError",
    "expiry_time",
    "normalise_strategy",
    "proxy_problem",
    "to_document",
    "updated",
]
