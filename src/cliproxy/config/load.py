"""Loading the config: reading the YAML file, lenient coercion into ``Config``, environment overrides.

An existing CLIProxyAPI ``config.yaml`` must load unchanged, so keys that concern other providers
are accepted and ignored (with one warning), YAML 1.1 boolean words still mean booleans, and every
bad key is reported at once with its path, not just the first one.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect

from cliproxy.config import legacy
from cliproxy.config.amp_legacy import legacy_warnings, lifted
from cliproxy.config.compat import DIFFERENT, OTHER_PROVIDER_KEYS, UNSUPPORTED, compat_warnings
from cliproxy.config.schema import Config, ConfigError, updated

DEFAULT_CONFIG_PATH = Path("~/.cli-proxy-api/config.yaml")

# Keys of CLIProxyAPI that concern other providers: loaded, ignored (config/compat.py warns).
FOREIGN_KEYS = OTHER_PROVIDER_KEYS

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
    if legacy.is_sectioned(raw):
        raw = legacy.flatten(raw, _flat_keys())[0]
    data = lifted({key: value for key, value in raw.items() if key not in FOREIGN_KEYS})
    keys = data.get("api-keys")
    if keys is None and "api-keys" in data:
        data["api-keys"] = []
    elif isinstance(keys, list | tuple):
        data["api-keys"] = [str(item) for item in keys]
    routing = data.get("routing")
    if isinstance(routing, dict) and routing.get("prefer-earlier-reset", "") in (False, None):
        # YAML 1.1 readers turn ``off`` into ``false``; both mean off.
        data["routing"] = {**routing, "prefer-earlier-reset": "off"}
    if isinstance(data.get("client-keys"), list):
        data["client-keys"] = [_dated(entry) for entry in data["client-keys"]]
    unknown: list[str] = []
    return _loosen(data, _config_type(), "", unknown), unknown


def _dated(entry: Any) -> Any:
    """A YAML reader turns an unquoted ``expires: 2026-12-31`` into a date; the schema wants its text."""
    if isinstance(entry, dict) and isinstance(entry.get("expires"), date):
        return {**entry, "expires": entry["expires"].isoformat()}
    return entry


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


@cache
def _flat_keys() -> frozenset[str]:
    """Every top-level v7 key a v8 section's field may name: ours, and CLIProxyAPI's we know of."""
    info = _config_type()
    assert isinstance(info, msgspec.inspect.StructType)
    known = {entry.path.split(".")[0] for entry in UNSUPPORTED} | {path.split(".")[0] for path in DIFFERENT}
    return frozenset({f.encode_name for f in info.fields} | known | OTHER_PROVIDER_KEYS)


def checked_mapping(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A file's mapping as the flat keys ``parse_config`` reads (a v8 sectioned file is flattened),
    and the warnings to log once: keys for other providers, keys not supported, unknown keys."""
    data, unplaced = dict(raw), list[str]()
    if legacy.is_sectioned(raw):
        data, unplaced = legacy.flatten(raw, _flat_keys())
    warnings = [*compat_warnings(data, [*_prepare(data)[1], *unplaced]), *legacy_warnings(data)]
    return data, warnings


def parse_config(raw: Mapping[str, Any] | None, source: str = "config") -> Config:
    """Validate a parsed YAML mapping; raise ConfigError naming the bad key."""
    data, _unknown = _prepare(raw or {})
    try:
        return msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as exc:
        lines = _errors(data) or [_describe(exc)]
        raise ConfigError("\n  ".join([f"{source}: invalid configuration", *lines])) from None


# Nodes a config may hold once its aliases are expanded: a real one has a few hundred. Past it, the
# text is a billion-laughs bomb (417 bytes can expand to 10^9 nodes and take gigabytes to walk).
MAX_YAML_NODES = 100_000


def check_aliases(text: str, source: str = "config") -> None:
    """Refuse YAML whose aliases expand it past ``MAX_YAML_NODES``; counted on the parser's events,
    before anything is built, so a bomb costs its own few hundred bytes."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        _count_expanded(YAML(typ="safe", pure=True).parse(text), source)
    except YAMLError:
        return  # the loader reports it, with its line


def _count_expanded(events: Iterable[Any], source: str) -> None:
    """Each node counts its expanded size into its parent; an alias counts its anchor's size."""
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = [[None, 0]]  # [anchor, size so far] of each collection being read
    for event in events:
        if isinstance(event, CollectionStartEvent):
            open_nodes.append([event.anchor, 1])
            continue
        if isinstance(event, CollectionEndEvent):
            anchor, size = open_nodes.pop()
        elif isinstance(event, AliasEvent):
            anchor, size = None, sizes.get(event.anchor, 1)
        elif isinstance(event, NodeEvent):  # a scalar
            anchor, size = event.anchor, 1
        else:
            continue
        if anchor:
            sizes[anchor] = size
        open_nodes[-1][1] += size
        if open_nodes[-1][1] > MAX_YAML_NODES:
            raise ConfigError(f"{source}: its aliases expand to more than {MAX_YAML_NODES} values; "
                              "write the values out instead")


def parse_yaml(text: str, source: str = "config") -> dict[str, Any]:
    """YAML text as a mapping; malformed text, a non-mapping or an alias bomb raise ConfigError."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    check_aliases(text, source)
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; an unreadable or malformed file raises ConfigError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    return parse_yaml(text, str(path))


ACCOUNTS_KEY_ENV = "CLIPROXY_ACCOUNTS_KEY"


def apply_env(config: Config, environ: Mapping[str, str]) -> Config:
    """Environment overrides used by tests, relays and outside checks."""
    updates: dict[str, Any] = {}
    if base := environ.get("CLIPROXY_CODEX_BASE_URL"):
        updates["codex_base_url"] = base.rstrip("/")
    if issuer := environ.get("CLIPROXY_OAUTH_ISSUER"):
        updates["oauth_issuer"] = issuer.rstrip("/")
    if auth_dir := environ.get("CLIPROXY_AUTH_DIR"):
        updates["auth_dir"] = auth_dir
    if state_url := environ.get("CLIPROXY_STATE_URL"):  # keeps a Redis password out of the file
        updates["state"] = updated(config.state, url=state_url)
    if accounts_key := environ.get(ACCOUNTS_KEY_ENV):  # keeps the accounts' encryption key out of the file
        updates["state"] = updated(updates.get("state", config.state), accounts_key=accounts_key)
    return updated(config, **updates) if updates else config


def require_accounts_key(config: Config) -> Config:
    """Account records in Redis are encrypted: without a usable key nothing could read or write them,
    so the config is refused here, before any command or server starts, with how to make a key."""
    state = config.state
    if state.accounts != "redis":
        return config
    how = "`cliproxy accounts key` prints a new one"
    if not state.accounts_key:
        raise ConfigError(f"state.accounts: redis needs an encryption key: set state.accounts-key or "
                          f"{ACCOUNTS_KEY_ENV} ({how}; every instance needs the same key)")
    if not all(_fernet_key(key) for key in accounts_keys(state.accounts_key)):
        raise ConfigError(f"state.accounts-key: not a Fernet key, or a comma-separated list of them (32 bytes, "
                          f"URL-safe base64); {how}")
    return config


def accounts_keys(value: str) -> list[str]:
    """``state.accounts-key``: one key, or several separated by commas to change keys (the first
    encrypts, any of them decrypts)."""
    return [key.strip() for key in value.split(",") if key.strip()]


def _fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (ValueError, binascii.Error):
        return False


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``CLIPROXY_CONFIG``, else ``~/.cli-proxy-api/config.yaml``."""
    chosen = explicit or environ.get("CLIPROXY_CONFIG") or str(DEFAULT_CONFIG_PATH)
    return Path(os.path.expanduser(chosen))


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """Load the config at ``path`` (embedded defaults when the file does not exist).

    Returns the config and the warnings to log (ignored keys).
    """
    env = os.environ if environ is None else environ
    raw, warnings = checked_mapping(read_yaml(path) if path.exists() else {})
    config = parse_config(raw, str(path))
    return require_accounts_key(apply_env(config, env)), warnings


__all__ = [
    "ACCOUNTS_KEY_ENV",
    "DEFAULT_CONFIG_PATH",
    "FOREIGN_KEYS",
    "accounts_keys",
    "apply_env",
    "check_aliases",
    "checked_mapping",
    "config_path",
    "load_config",
    "parse_config",
    "parse_yaml",
    "read_yaml",
    "require_accounts_key",
    "unknown_keys",
]
