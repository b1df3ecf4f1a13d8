"""What a CLIProxyAPI ``config.yaml`` says that cliproxy does not do, said once when it loads.

A user pointing cliproxy at an existing CLIProxyAPI directory must never find out later that a key
silently did less. Every key of CLIProxyAPI's Codex path is therefore one of three things: read and
acted on (``config/schema.py``), acted on differently (said in docs/config.md, no warning), or named
here with what it would have done, warned about when its value would change anything. Keys for the
other providers CLIProxyAPI serves get one line together; keys nobody knows get another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Keys of CLIProxyAPI that configure providers other than Codex: loaded, ignored, one warning.
OTHER_PROVIDER_KEYS = frozenset({
    "gemini-api-key", "claude-api-key", "vertex-api-key", "openai-compatibility", "quota-exceeded",
    "claude-header-defaults", "enable-gemini-cli-endpoint", "gpt-image-2-base-model",
    "generative-language-api-key", "antigravity-signature-cache", "antigravity-signature-cache-enabled",
    "antigravity-signature-bypass-strict", "antigravity", "kimi-api-key", "xai-api-key", "xai",
    "interactions-api-key", "claude-code", "disable-claude-cloak-mode",
})


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"))


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _enabled(value: Any) -> bool:
    """A section switched on: ``{enabled: true}`` or ``{enable: true}``."""
    return isinstance(value, Mapping) and (_true(value.get("enabled")) or _true(value.get("enable")))


def _not(default: Any) -> Callable[[Any], bool]:
    return lambda value: value is not None and value != default


@dataclass(frozen=True, slots=True)
class Unsupported:
    """One CLIProxyAPI key cliproxy does not act on: when its value matters, and what it would have done."""

    path: str  # dotted, as in the file
    active: Callable[[Any], bool]
    would: str  # completes "<path> is not supported: it would have …"


UNSUPPORTED: tuple[Unsupported, ...] = (
    Unsupported("codex.identity-confuse", _true,
                "replaced the session, conversation and installation ids sent upstream with per-account ones"),
    Unsupported("nonstream-keepalive-interval", _positive,
                "written a newline every few seconds while a non-streaming answer waits; cliproxy answers "
                "with the real status instead, so a failure is never a 200"),
    Unsupported("commercial-mode", _true,
                "turned off the request-logging middleware; leave `request-log` off for the same effect"),
    Unsupported("redis-usage-queue-retention-seconds", _not(60),
                "kept usage records this long in a Redis queue; cliproxy keeps usage history in "
                "usage.sqlite3 (`cliproxy usage`, management `/usage`)"),
    Unsupported("transient-error-cooldown-seconds", _positive,
                "rested an account this long after an upstream's transient error; cliproxy retries with "
                "a short backoff and rests only after repeated failures"),
    Unsupported("codex.disable-codex-cloaking", _true,
                "sent the client's own User-Agent and originator instead of Codex CLI's"),
    Unsupported("codex.stream-bootstrap-buffering", _true,
                "held a stream's preamble until the first generated event"),
    Unsupported("codex.optimize-multi-agent-v2", _true, "rewritten multi-agent requests"),
    Unsupported("codex.live-media-relay", _enabled, "relayed live audio and video sessions"),
    Unsupported("plugins", _enabled, "loaded plugins"),
    Unsupported("pprof", _enabled, "served Go's profiler"),
    Unsupported("credential-concurrency", _enabled, "capped concurrent requests per account"),
    Unsupported("credential-in-flight", _enabled, "capped in-flight requests per account"),
)
# Keys read and acted on differently (docs/config.md says how): known, never warned about.
DIFFERENT = frozenset({
    "ws-auth", "websockets", "save-cooldown-status", "auth-auto-refresh-workers", "video-result-auth-cache-ttl",
    "oauth-request-scoped-errors", "remote-management.panel-github-repository", "config-version",
})
KNOWN_PATHS = frozenset({entry.path for entry in UNSUPPORTED}) | DIFFERENT


def _lookup(raw: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _known(path: str) -> bool:
    """An unknown key path that is (or lies under) one this module knows."""
    return any(path == known or path.startswith(known + ".") for known in KNOWN_PATHS)


def compat_warnings(raw: Mapping[str, Any], unknown: Iterable[str]) -> list[str]:
    """The start-up warnings for a config mapping whose unknown key paths are ``unknown``."""
    warnings: list[str] = []
    foreign = sorted(key for key in raw if key in OTHER_PROVIDER_KEYS)
    if foreign:
        warnings.append("ignoring keys for other providers: " + ", ".join(foreign))
    for entry in UNSUPPORTED:
        present, value = _lookup(raw, entry.path)
        if present and entry.active(value):
            warnings.append(f"`{entry.path}` is not supported: it would have {entry.would}")
    rest = sorted(path for path in unknown if path.split(".")[0] not in OTHER_PROVIDER_KEYS and not _known(path))
    if rest:
        warnings.append("ignoring unknown config keys: " + ", ".join(rest))
    return warnings


__all__ = ["DIFFERENT", "OTHER_PROVIDER_KEYS", "UNSUPPORTED", "Unsupported", "compat_warnings"]
