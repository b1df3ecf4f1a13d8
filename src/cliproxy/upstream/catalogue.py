"""Live model discovery: ask each account's backend which models it serves.

The Codex backend answers ``GET {base}/models?client_version=<v>`` with the catalogue Codex CLI
reads (``{"models":[{slug, display_name, context_window, supported_reasoning_levels, visibility,
supported_in_api, …}]}``). What one account may use depends on its plan and changes over time, so
this list, when we can get it, is better than the bundled one. Any failure returns ``None`` and the
registry falls back to the bundled list: discovery must never stop the proxy from serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx
import orjson

from cliproxy.config.catalogue import DEFAULT_MAX_COMPLETION_TOKENS, Catalogue, ModelInfo, bundled_catalogue
from cliproxy.config.coerce import as_count
from cliproxy.config.schema import Config
from cliproxy.credential import Credential

log = logging.getLogger(__name__)

ORIGINATOR = "codex-tui"
REQUEST_TIMEOUT_SECONDS = 15.0


def _user_agent(config: Config) -> str:
    if config.codex_header_defaults.user_agent:
        return config.codex_header_defaults.user_agent
    version = config.models.client_version
    return f"codex-tui/{version} (Mac OS 26.5.0; arm64) iTerm.app/3.6.10 (codex-tui; {version})"


def request_headers(credential: Credential, config: Config) -> httpx.Headers:
    """The inference path's auth headers (proxy.md §3.2, §6.4), for a JSON GET. The account's own
    extra ``headers`` come first; ours replace any of the same name, whatever its case."""
    headers = httpx.Headers(list(credential.headers))
    headers["Authorization"] = f"Bearer {credential.access_token}"
    headers["Accept"] = "application/json"
    if credential.kind == "oauth":
        if "originator" not in headers:
            headers["Originator"] = ORIGINATOR
        headers["User-Agent"] = _user_agent(config)
        if credential.account_id:
            headers["Chatgpt-Account-Id"] = credential.account_id
    return headers


def _levels(entry: Mapping[str, Any]) -> tuple[str, ...]:
    raw = entry.get("supported_reasoning_levels")
    if not isinstance(raw, list):
        return ()
    efforts = (item.get("effort") if isinstance(item, Mapping) else item for item in raw)
    return tuple(effort.lower() for effort in efforts if isinstance(effort, str) and effort)


def model_from_entry(entry: Mapping[str, Any], catalogue: Catalogue) -> ModelInfo | None:
    """One backend catalogue entry as a ModelInfo, or None for an entry clients may not use.

    ``visibility:"list"`` models are listed; ``"hide"`` ones stay routable (Codex itself asks for
    ``codex-auto-review``) but are listed only in the Codex CLI catalogue. ``supported_in_api:false``
    and any other visibility are dropped.
    """
    slug = entry.get("slug")
    visibility = entry.get("visibility", "list")
    if not isinstance(slug, str) or not slug.strip() or entry.get("supported_in_api", True) is not True:
        return None
    if visibility not in ("list", "hide"):
        return None
    known = catalogue.get(slug)
    description = entry.get("description")
    window = as_count(entry.get("context_window"))
    return ModelInfo(
        id=slug.strip(),
        display_name=str(entry.get("display_name") or slug),
        created=known.created if known else 0,
        context_length=window if window > 0 else known.context_length if known else 0,
        max_completion_tokens=known.max_completion_tokens if known else DEFAULT_MAX_COMPLETION_TOKENS,
        levels=_levels(entry),
        description=description if isinstance(description, str) else "",
        hidden=visibility == "hide",
        codex_entry=dict(entry),
    )


def parse_models(payload: Any, catalogue: Catalogue) -> list[ModelInfo] | None:
    """Shape 1 -> models; None when the payload is not that shape or lists nothing usable."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("models"), list):
        return None
    models: list[ModelInfo] = []
    seen: set[str] = set()
    for entry in payload["models"]:
        info = model_from_entry(entry, catalogue) if isinstance(entry, Mapping) else None
        if info is not None and info.id.lower() not in seen:
            seen.add(info.id.lower())
            models.append(info)
    return models or None


class CatalogueCache:
    """Per-credential cache of discovered models, kept ``models.cache-ttl-seconds``.

    Concurrent callers for one credential share one request. Failures are not cached, so the next
    registry rebuild tries again; a failure returns None and never logs the token.
    """

    def __init__(self, config: Config, catalogue: Catalogue | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._catalogue = catalogue or bundled_catalogue()
        self._clock = clock
        self._entries: dict[str, tuple[float, list[ModelInfo]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, credential_id: str) -> None:
        """Drop one credential's entry (e.g. after its token or plan changed)."""
        self._entries.pop(credential_id, None)

    async def get(self, credential: Credential, client: httpx.AsyncClient) -> list[ModelInfo] | None:
        if not self._config.models.discovery or not credential.access_token or not credential.base_url:
            return None
        cached = self._fresh(credential.id)
        if cached is not None:
            return cached
        async with self._locks.setdefault(credential.id, asyncio.Lock()):
            cached = self._fresh(credential.id)
            if cached is not None:
                return cached
            models = await self._fetch(credential, client)
            if models is not None and self._config.models.cache_ttl_seconds > 0:
                expires = self._clock() + self._config.models.cache_ttl_seconds
                self._entries[credential.id] = (expires, models)
            return list(models) if models is not None else None

    def _fresh(self, credential_id: str) -> list[ModelInfo] | None:
        entry = self._entries.get(credential_id)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[credential_id]
            return None
        return list(entry[1])

    async def _fetch(self, credential: Credential, client: httpx.AsyncClient) -> list[ModelInfo] | None:
        url = f"{credential.base_url}/models"
        try:
            response = await client.get(
                url,
                params={"client_version": self._config.models.client_version},
                headers=request_headers(credential, self._config),
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            log.info("model discovery for %s failed: %s", credential.name, type(exc).__name__)
            return None
        if response.status_code != 200:
            log.info("model discovery for %s: HTTP %d; using the bundled list", credential.name,
                     response.status_code)
            return None
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            log.info("model discovery for %s: answer is not JSON; using the bundled list", credential.name)
            return None
        models = parse_models(payload, self._catalogue)
        if models is None:
            log.info("model discovery for %s: no usable model in the answer; using the bundled list",
                     credential.name)
        return models


ClientFor = httpx.AsyncClient | Callable[[Credential], httpx.AsyncClient]


def _client_for(client: ClientFor, credential: Credential) -> httpx.AsyncClient:
    return client if isinstance(client, httpx.AsyncClient) else client(credential)


async def discover(cache: CatalogueCache, credentials: Iterable[Credential],
                   client: ClientFor) -> dict[str, list[ModelInfo]]:
    """Live lists for every credential that answered, ready for ``ModelRegistry.build(live=…)``.

    ``client`` is one client, or a function giving each credential its own (per-account
    ``proxy_url``). ``codex-api-key`` entries with an explicit ``models`` list and disabled
    credentials are skipped: their list does not come from the backend.
    """
    wanted: Sequence[Credential] = [
        c for c in credentials if not c.disabled and not (c.kind == "api-key" and c.models)
    ]
    results = await asyncio.gather(*(cache.get(c, _client_for(client, c)) for c in wanted))
    return {c.id: models for c, models in zip(wanted, results, strict=True) if models}


__all__ = ["CatalogueCache", "discover", "model_from_entry", "parse_models", "request_headers"]
