"""Would the server accept the key a client is set up with, for the models it asks for?

Judged as the server judges a request: the plain ``api-keys`` and the ``client-keys`` (in clear or
by their SHA-256) through the same key ring, then a client key's own rules — disabled, expired,
the models it may use. The key itself is never printed; a client key is named by its name.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from cliproxy.config.schema import Config, expiry_time
from cliproxy.keys.model import KeyRing
from cliproxy.keys.policy import utc


def usable_keys(config: Config, now: float | None = None) -> tuple[str, ...]:
    """The keys a client could be given, in the config's order: the ``api-keys``, then the
    client keys written in clear that are neither disabled nor expired."""
    now = time.time() if now is None else now
    live = tuple(entry.key for entry in config.client_keys if entry.key and not entry.disabled
                 and not (entry.expires and expiry_time(entry.expires) <= now))
    return config.api_keys + live


def key_problem(config: Config, key: str, models: Iterable[str] = (), now: float | None = None) -> str:
    """``""`` when the server would serve this key these models, else why not (for a person)."""
    if not config.requires_key:
        return ""
    spec = KeyRing(config).find(key)
    if spec is None:
        return "its key is not one of the server's api-keys or client-keys (it would get a 401)"
    now = time.time() if now is None else now
    if spec.disabled:
        return f"its client key {spec.name!r} is disabled (it would get a 401)"
    if spec.expires_at is not None and now >= spec.expires_at:
        return f"its client key {spec.name!r} expired at {utc(spec.expires_at)} (it would get a 401)"
    denied = [model for model in dict.fromkeys(models) if model and not spec.allows((model,))]
    if denied:
        return f"its client key {spec.name!r} may not use {', '.join(denied)} (it would get a 403)"
    return ""


__all__ = ["key_problem", "usable_keys"]
