"""The ``ampcode:`` section: how Amp's requests are served, mapped or forwarded to ampcode.com.

Kept apart from ``schema.py`` because the Amp module (``cliproxy.amp``) is the only reader. Every key
is optional; an empty section leaves the Amp routes serving what the pool can serve and answering
the control plane locally. ``upstream-url`` is checked at load, so a typo such as ``ampcode.com``
(no scheme) fails the load, or a reload, which then keeps the settings in force, instead of failing
every forwarded request later.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec
from msgspec import field


class ModelMapping(msgspec.Struct, rename="kebab", frozen=True, kw_only=True):
    """One ``model-mappings`` entry: a model Amp asks for (``from``) served as a local model (``to``)."""

    from_: str = field(name="from", default="")
    to: str = ""
    regex: bool = False  # ``from`` is a case-insensitive Python regular expression, unanchored


class UpstreamKeys(msgspec.Struct, rename="kebab", frozen=True, kw_only=True):
    """One ``upstream-api-keys`` entry: the Amp key sent upstream for the requests of these client keys."""

    upstream_api_key: str = ""
    api_keys: tuple[str, ...] = ()


class Ampcode(msgspec.Struct, rename="kebab", frozen=True, kw_only=True):
    """The ``ampcode:`` section."""

    upstream_url: str = ""  # usually https://ampcode.com; empty: nothing is ever forwarded
    upstream_api_key: str = ""
    upstream_api_keys: tuple[UpstreamKeys, ...] = ()
    restrict_management_to_localhost: bool = False
    model_mappings: tuple[ModelMapping, ...] = ()
    force_model_mappings: bool = False
    # Our own key: false refuses a model the pool cannot serve instead of spending Amp credits on it.
    fallback: bool = True

    def __post_init__(self) -> None:
        url = self.upstream_url.strip()
        msgspec.structs.force_setattr(self, "upstream_url", url.rstrip("/") if url else "")
        msgspec.structs.force_setattr(self, "upstream_api_key", self.upstream_api_key.strip())
        if url:
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise ValueError("upstream-url: expected an http:// or https:// URL with a host, "
                                 "such as https://ampcode.com")


__all__ = ["Ampcode", "ModelMapping", "UpstreamKeys"]
