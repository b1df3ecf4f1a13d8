"""Client keys as objects, and the ring that finds the one a client presented.

Every key is known by the SHA-256 of its text. Keys are long random strings, so a fast hash is
enough (a slow one guards low-entropy passwords, not these) and costs about a microsecond per
request. The ring looks the presented key's digest up in a dict: the lookup's timing depends only
on that digest, which tells a guesser nothing about any stored key, so it is as safe as comparing
each key in constant time and stays O(1) with thousands of keys.

The plain ``api-keys`` list keeps working: each is a key without a name, limits or model rules.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache

from cliproxy.config.schema import ClientKey, Config, expiry_time
from cliproxy.keys.windows import REQUESTS, TOKENS, WindowSpec
from cliproxy.observe.logs import mask as masked

KEY_PREFIX = "sk-cp-"


def digest(key: str) -> str:
    """The hex SHA-256 of a key, as ``key-sha256`` stores it."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh client key: 256 random bits, recognisable by its prefix in a leaked file."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Limit:
    """``amount`` requests or tokens per window."""

    kind: int  # windows.REQUESTS or windows.TOKENS
    amount: int
    window: WindowSpec

    @property
    def unit(self) -> str:
        return "requests" if self.kind == REQUESTS else "tokens"

    def describe(self) -> str:
        """``100 requests per hour (rolling)``: how the limit is named to the client."""
        mode = "rolling" if self.window.rolling else "calendar, UTC"
        per = "5 hours" if self.window.per == "5h" else self.window.per
        return f"{self.amount} {self.unit} per {per} ({mode})"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One client key as the request path uses it; ``name`` is how it is counted and listed."""

    name: str
    expires_at: float | None = None
    disabled: bool = False
    models: tuple[str, ...] = ()
    max_effort: str = ""
    limits: tuple[Limit, ...] = ()
    show_pool_quota: bool = True
    named: bool = True  # False for a plain ``api-keys`` entry (its name is its masked text)
    # What the limits imply, worked out once here rather than on every admission.
    windows: tuple[WindowSpec, ...] = field(init=False, compare=False)
    counts_tokens: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(dict.fromkeys(limit.window for limit in self.limits)))
        object.__setattr__(self, "counts_tokens", any(limit.kind == TOKENS for limit in self.limits))

    def allows(self, names: tuple[str, ...]) -> bool:
        """Whether any of a model's names (as sent, its id, ``prefix/id``) matches an allowed pattern."""
        if not self.models:
            return True
        return any(_pattern(pattern).fullmatch(name.lower()) for pattern in self.models for name in names)


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()))


def spec_of(entry: ClientKey) -> KeySpec:
    limits = tuple(Limit(REQUESTS if limit.requests else TOKENS, limit.requests or limit.tokens,
                         WindowSpec(limit.per, limit.window == "rolling")) for limit in entry.limits)
    return KeySpec(name=entry.name, expires_at=expiry_time(entry.expires) if entry.expires else None,
                   disabled=entry.disabled, models=entry.models, max_effort=entry.max_effort.lower(),
                   limits=limits, show_pool_quota=entry.show_pool_quota)


class KeyRing:
    """Every key of one config, by digest. Built once per config snapshot."""

    def __init__(self, config: Config) -> None:
        self.keys: dict[str, KeySpec] = {}
        for key in config.api_keys:
            self.keys[digest(key)] = KeySpec(name=masked(key), named=False)
        for entry in config.client_keys:
            self.keys[entry.key_sha256 or digest(entry.key)] = spec_of(entry)

    @classmethod
    def of(cls, config: Config) -> KeyRing:
        """The ring of ``config``, built once per snapshot (a reload brings a new one) and shared by
        every place that checks a key: building one hashes every configured key."""
        global _current
        if _current is None or _current[0] is not config:
            _current = (config, cls(config))
        return _current[1]

    def __bool__(self) -> bool:
        return bool(self.keys)

    def find(self, presented: str) -> KeySpec | None:
        return self.keys.get(digest(presented))


_current: tuple[Config, KeyRing] | None = None


__all__ = ["KEY_PREFIX", "KeyRing", "KeySpec", "Limit", "digest", "masked", "new_key", "spec_of"]
