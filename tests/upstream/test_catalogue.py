"""Live model discovery from the backend's ``/models`` catalogue (unit level, httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cliproxy.config.load import parse_config
from cliproxy.config.models import ModelRegistry
from cliproxy.credential import Credential, OfferedModel
from cliproxy.upstream.catalogue import CatalogueCache, discover

TOKEN = "tok-SENTINEL-123"
BASE = "https://chatgpt.test/backend-api/codex"

LEVELS = [{"effort": "low", "description": "l"}, {"effort": "medium", "description": "m"},
          {"effort": "high", "description": "h"}, {"effort": "ultra", "description": "u"}]
CATALOGUE = {
    "models": [
        {"slug": "gpt-6.1-sol", "display_name": "GPT-6.1-Sol", "description": "workhorse",
         "context_window": 272000, "supported_reasoning_levels": LEVELS, "visibility": "list",
         "supported_in_api": True, "priority": 1, "base_instructions": "prompt"},
        {"slug": "gpt-5.5", "display_name": "GPT-5.5", "supported_reasoning_levels": LEVELS[:3],
         "visibility": "list", "supported_in_api": True, "priority": 2},
        {"slug": "codex-auto-review", "display_name": "Codex Auto Review", "supported_reasoning_levels": [],
         "visibility": "hide", "supported_in_api": True, "priority": 3},
        {"slug": "internal-x", "display_name": "X", "supported_reasoning_levels": [], "visibility": "none",
         "supported_in_api": True, "priority": 4},
        {"slug": "app-only", "display_name": "Y", "supported_reasoning_levels": [], "visibility": "list",
         "supported_in_api": False, "priority": 5},
        {"display_name": "no slug"},
        "not an object",
    ]
}


def oauth(cred_id: str = "a.json") -> Credential:
    return Credential(id=cred_id, kind="oauth", access_token=TOKEN, base_url=BASE, account_id="acc-1",
                      plan="plus", headers=(("X-Extra", "1"),))


def api_key(models: tuple[OfferedModel, ...] = ()) -> Credential:
    return Credential(id="api-key:0", kind="api-key", access_token="sk-up", base_url="http://127.0.0.1:9/v1",
                      models=models)


class Backend:
    """A fake catalogue endpoint that records what it was asked."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._respond = respond or (lambda request: httpx.Response(200, json=CATALOGUE))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._respond(request)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_for(clock: Clock | None = None, **models: Any) -> CatalogueCache:
    config = parse_config({"models": {key.replace("_", "-"): value for key, value in models.items()}})
    return CatalogueCache(config, clock=clock or Clock())


async def test_discovery_asks_the_backend_like_codex_and_keeps_usable_models() -> None:
    backend = Backend()
    async with backend.client() as client:
        models = await cache_for().get(oauth(), client)
    assert models is not None
    assert [(m.id, m.hidden) for m in models] == [("gpt-6.1-sol", False), ("gpt-5.5", False),
                                                  ("codex-auto-review", True)]
    sol = models[0]
    assert (sol.display_name, sol.context_length, sol.description) == ("GPT-6.1-Sol", 272000, "workhorse")
    assert sol.levels == ("low", "medium", "high", "ultra")
    assert sol.codex_entry is not None and sol.codex_entry["base_instructions"] == "prompt"
    assert models[1].created == 1776902400  # known model: the bundled created date is kept
    request = backend.requests[0]
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/models?client_version=0.171.0"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Chatgpt-Account-Id"] == "acc-1"
    assert request.headers["Originator"] == "codex-tui"
    assert request.headers["User-Agent"].startswith("codex-tui/")
    assert request.headers["X-Extra"] == "1"


async def test_api_key_credentials_send_only_their_key() -> None:
    backend = Backend()
    async with backend.client() as client:
        await cache_for(client_version="0.200.1").get(api_key(), client)
    request = backend.requests[0]
    assert str(request.url) == "http://127.0.0.1:9/v1/models?client_version=0.200.1"
    assert request.headers["Authorization"] == "Bearer sk-up"
    assert "Chatgpt-Account-Id" not in request.headers
    assert "Originator" not in request.headers


async def test_an_account_header_cannot_replace_the_authorization() -> None:
    backend = Backend()
    credential = Credential(id="a.json", kind="oauth", access_token=TOKEN, base_url=BASE,
                            headers=(("authorization", "Bearer other"),))
    async with backend.client() as client:
        await cache_for().get(credential, client)
    assert backend.requests[0].headers.get_list("Authorization") == [f"Bearer {TOKEN}"]


async def test_results_are_cached_for_the_ttl() -> None:
    backend, clock = Backend(), Clock()
    cache = cache_for(clock, cache_ttl_seconds=60)
    async with backend.client() as client:
        first = await cache.get(oauth(), client)
        clock.now += 59
        second = await cache.get(oauth(), client)
        assert len(backend.requests) == 1
        assert first == second
        clock.now += 2
        await cache.get(oauth(), client)
        assert len(backend.requests) == 2
        await cache.get(oauth("b.json"), client)  # per credential
        assert len(backend.requests) == 3
        cache.forget("b.json")
        await cache.get(oauth("b.json"), client)
        assert len(backend.requests) == 4


async def test_ttl_zero_means_no_cache() -> None:
    backend = Backend()
    cache = cache_for(cache_ttl_seconds=0)
    async with backend.client() as client:
        await cache.get(oauth(), client)
        await cache.get(oauth(), client)
    assert len(backend.requests) == 2


async def test_concurrent_callers_share_one_request() -> None:
    backend = Backend()
    cache = cache_for()
    async with backend.client() as client:
        results = await asyncio.gather(*(cache.get(oauth(), client) for _ in range(5)))
    assert len(backend.requests) == 1
    assert all(result == results[0] for result in results)


def _raise_connect(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    "respond",
    [
        lambda request: httpx.Response(500, json={"error": "boom"}),
        lambda request: httpx.Response(401, json={"error": {"message": "expired"}}),
        lambda request: httpx.Response(200, content=b"<html>not json"),
        lambda request: httpx.Response(200, json={"object": "list", "data": [{"id": "gpt-5.4"}]}),
        lambda request: httpx.Response(200, json={"models": []}),
        lambda request: httpx.Response(200, json=["gpt-5.4"]),
        _raise_connect,
    ],
    ids=["500", "401", "bad-json", "openai-shape", "empty", "array", "transport"],
)
async def test_any_failure_returns_none_is_not_cached_and_never_logs_the_token(
    respond: Callable[[httpx.Request], httpx.Response], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = Backend(respond)
    cache = cache_for()
    async with backend.client() as client:
        assert await cache.get(oauth(), client) is None
        assert await cache.get(oauth(), client) is None
    assert len(backend.requests) == 2
    assert TOKEN not in caplog.text


async def test_discovery_disabled_asks_nothing() -> None:
    backend = Backend()
    async with backend.client() as client:
        assert await cache_for(discovery=False).get(oauth(), client) is None
    assert backend.requests == []


async def test_discover_feeds_the_registry_and_falls_back_per_credential() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == f"Bearer {TOKEN}":
            return httpx.Response(200, json=CATALOGUE)
        return httpx.Response(404)

    backend = Backend(respond)
    a = oauth("a.json")
    b = Credential(id="b.json", kind="oauth", access_token="tok-b", base_url=BASE, plan="free")
    explicit = api_key(models=(OfferedModel(name="gpt-5.4", alias="fast"),))
    async with backend.client() as client:
        live = await discover(cache_for(), [a, b, explicit], client)
    assert set(live) == {"a.json"}
    assert len(backend.requests) == 2  # the explicit api-key entry is not asked
    registry = ModelRegistry.build(parse_config({}), [a, b, explicit], live)
    assert registry.candidates(registry.resolve("gpt-6.1-sol")) == (a,)
    assert registry.candidates(registry.resolve("gpt-5.5")) == (a, b)
    assert registry.candidates(registry.resolve("gpt-5.4-mini")) == (b,)  # b fell back to the free list
    assert registry.candidates(registry.resolve("fast")) == (explicit,)


async def test_discover_can_give_each_credential_its_own_client() -> None:
    backend = Backend()
    seen: list[str] = []
    async with backend.client() as client:
        def client_for(credential: Credential) -> httpx.AsyncClient:
            seen.append(credential.id)
            return client

        live = await discover(cache_for(), [oauth("a.json"), oauth("b.json")], client_for)
    assert seen == ["a.json", "b.json"]
    assert set(live) == {"a.json", "b.json"}
