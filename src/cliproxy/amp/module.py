"""The Amp module's long-lived state: one settings snapshot, the upstream secret, the HTTP client.

Settings are derived from the config snapshot a request started with and cached while the
``ampcode`` section stays equal, so a reload swaps URL, keys, mappings and flags together and a
request never mixes old and new. The secret sent to ampcode.com is the first of: the key mapped to
the caller's client key (``upstream-api-keys``), ``upstream-api-key``, the ``AMP_API_KEY``
environment variable, and the key ``amp login`` saved in ``~/.local/share/amp/secrets.json``. That
file is read at most every five minutes (a missing or broken file is remembered as empty for as
long); a changed ``upstream-api-key`` forgets it at once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from cliproxy.amp.mapping import ModelMapper
from cliproxy.config.ampcode import Ampcode
from cliproxy.config.schema import Config
from cliproxy.observe.logs import REDACTOR
from cliproxy.upstream.egress import chosen_proxy, client_options

log = logging.getLogger(__name__)

SECRETS_FILE = Path(".local/share/amp/secrets.json")  # under the user's home
SECRETS_KEY = "apiKey@https://ampcode.com/"
SECRETS_TTL = 300.0
SECRETS_FILE_BYTES = 1 << 20  # Amp writes a few keys; anything larger is not its file


@dataclass(frozen=True)
class AmpSettings:
    """The ``ampcode`` section, prepared: the mapper and the client key → upstream key lookup."""

    section: Ampcode
    mapper: ModelMapper
    upstream_keys: Mapping[str, str]

    @property
    def upstream(self) -> str:
        return self.section.upstream_url


def _client_lookup(section: Ampcode) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for entry in section.upstream_api_keys:
        secret = entry.upstream_api_key.strip()
        for key in (key.strip() for key in entry.api_keys):
            if not secret or not key:
                continue
            if key in lookup:
                log.warning("ampcode.upstream-api-keys: a client key appears in several entries; the first "
                            "one is used")
                continue
            lookup[key] = secret
    return lookup


def build_settings(section: Ampcode) -> AmpSettings:
    return AmpSettings(section, ModelMapper.build(section.model_mappings, log.warning), _client_lookup(section))


class SecretsFile:
    """The key ``amp login`` saved for ampcode.com, cached for ``ttl`` seconds (empty results too)."""

    def __init__(self, ttl: float = SECRETS_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._value = ""
        self._read_at: float | None = None

    def clear(self) -> None:
        self._read_at = None

    def get(self) -> str:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self.ttl:
            self._value, self._read_at = self._read(), now
        return self._value

    @staticmethod
    def _read() -> str:
        path = Path.home() / SECRETS_FILE
        try:
            with path.open("rb") as handle:
                data = json.loads(handle.read(SECRETS_FILE_BYTES + 1))
        except FileNotFoundError:
            return ""
        except (OSError, ValueError):
            log.warning("Amp's secrets file (~/%s) cannot be read as JSON; requests to ampcode.com go without "
                        "its key", SECRETS_FILE)
            return ""
        value = data.get(SECRETS_KEY) if isinstance(data, dict) else None
        secret = value.strip() if isinstance(value, str) else ""
        REDACTOR.add([secret])
        return secret


class AmpModule:
    """What the Amp routes share: the settings cache, the secrets-file cache, one pooled HTTP client."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.secrets = SecretsFile()
        self._environ = environ
        self._settings: AmpSettings | None = None
        self._clients: dict[tuple[str, str, bool], httpx.AsyncClient] = {}

    def settings(self, config: Config) -> AmpSettings:
        """The prepared settings of ``config``; rebuilt only when its ``ampcode`` section changed."""
        cached = self._settings
        if cached is not None and cached.section == config.ampcode:
            return cached
        fresh = build_settings(config.ampcode)
        if cached is not None and cached.section.upstream_api_key != fresh.section.upstream_api_key:
            self.secrets.clear()
        self._settings = fresh
        return fresh

    def upstream_secret(self, settings: AmpSettings, client_key: str | None) -> str:
        """The key to send to ampcode.com for this caller; ``""`` sends none."""
        if client_key and (mapped := settings.upstream_keys.get(client_key)):
            return mapped
        return (settings.section.upstream_api_key or self._environ.get("AMP_API_KEY", "").strip()
                or self.secrets.get())

    def client(self, config: Config) -> httpx.AsyncClient:
        """The pooled client for ampcode.com, leaving the way every other client does (``proxy-url``,
        else the environment's proxy) with the configured trust; a reload that changes either
        gets a new client."""
        proxy = chosen_proxy("", config.proxy_url)
        key = (proxy, config.upstream.ca_file, config.upstream.system_trust)
        client = self._clients.get(key)
        if client is None:
            limits = httpx.Limits(max_connections=config.limits.upstream_connections_per_host,
                                  max_keepalive_connections=config.upstream.max_idle_connections)
            client = self._clients[key] = httpx.AsyncClient(**client_options(proxy, config.upstream), limits=limits)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


__all__ = ["SECRETS_KEY", "AmpModule", "AmpSettings", "SecretsFile", "build_settings"]
