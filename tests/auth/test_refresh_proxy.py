"""Token refresh leaves as the account's requests do: through the account's proxy, else the
config's, ``direct`` over the environment, and to the issuer and proxy of a reloaded config."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from cliproxy.auth.refresh import Refresher
from cliproxy.auth.store import FileStore
from cliproxy.config.load import parse_config
from cliproxy.config.schema import Config
from tests.auth.conftest import seed_account
from tests.auth.test_refresh import load
from tests.fakes.issuer import FakeIssuer, running_issuer
from tests.fakes.socks5 import Socks5Proxy

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                   "NO_PROXY", "no_proxy")


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def where(issuer: FakeIssuer) -> tuple[str, int]:
    parts = urlsplit(issuer.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def with_keys(config: Config, **keys: object) -> Config:
    return parse_config({"auth-dir": config.auth_dir, "oauth-issuer": config.oauth_issuer, **keys})


async def refresh_once(config: Config, store: FileStore, name: str) -> Refresher:
    refresher = Refresher(config, None, store=store)
    try:
        await refresher.refresh(load(config, store, name), force=True)
    finally:
        await refresher.aclose()
    return refresher


async def test_refresh_goes_through_the_accounts_socks5_proxy(config: Config, issuer: FakeIssuer,
                                                              store: FileStore) -> None:
    async with Socks5Proxy() as proxy:
        name, _ = seed_account(issuer, store, proxy_url=proxy.url)
        await refresh_once(with_keys(config, **{"proxy-url": "direct"}), store, name)
    assert proxy.targets == [where(issuer)]
    assert len(issuer.refresh_calls) == 1


async def test_refresh_without_an_account_proxy_uses_the_configs(config: Config, issuer: FakeIssuer,
                                                                 store: FileStore) -> None:
    async with Socks5Proxy() as proxy:
        name, _ = seed_account(issuer, store)
        await refresh_once(with_keys(config, **{"proxy-url": proxy.url}), store, name)
    assert proxy.targets == [where(issuer)]


async def test_direct_refreshes_straight_even_with_all_proxy_set(config: Config, issuer: FakeIssuer, store: FileStore,
                                                                 env: pytest.MonkeyPatch) -> None:
    async with Socks5Proxy() as proxy:
        env.setenv("ALL_PROXY", proxy.url)
        name, _ = seed_account(issuer, store)
        await refresh_once(with_keys(config, **{"proxy-url": "direct"}), store, name)
    assert proxy.targets == []
    assert len(issuer.refresh_calls) == 1


async def test_a_reloaded_issuer_and_proxy_url_carry_the_next_refresh(config: Config, issuer: FakeIssuer,
                                                                      store: FileStore) -> None:
    refresher = Refresher(config, None, store=store)
    with running_issuer() as moved:
        async with Socks5Proxy() as proxy:
            name, _ = seed_account(moved, store)
            refresher.configure(with_keys(config, **{"oauth-issuer": moved.url, "proxy-url": proxy.url}))
            try:
                await refresher.refresh(load(config, store, name), force=True)
            finally:
                await refresher.aclose()
        assert len(moved.refresh_calls) == 1
    assert issuer.refresh_calls == []
    assert proxy.targets == [where(moved)]
