"""An upstream whose TLS certificate is refused is named as such in the 502, with the keys that fix it,
whichever way out the connection took."""

from __future__ import annotations

import pytest
import trustme

from cliproxy.errors import ProxyError
from tests.fakes.socks5 import Socks5Proxy
from tests.upstream.test_trust import clean_environment, event_types_with, tls_codex

__all__ = ["clean_environment"]  # the autouse fixture: no proxy or CA from the environment


def _says_certificate(error: ProxyError) -> None:
    assert error.status == 502
    assert "certificate was not trusted" in error.message, error.message
    assert "upstream.ca-file" in error.message and "upstream.system-trust" in error.message


@pytest.mark.parametrize("http2", [True, False], ids=["http2-offered", "http1-only"])
async def test_a_refused_certificate_is_named_directly(http2: bool) -> None:
    async with tls_codex(trustme.CA()) as base:
        with pytest.raises(ProxyError) as refused:
            await event_types_with({"http2": http2}, base)
    _says_certificate(refused.value)


async def test_a_refused_certificate_is_named_through_a_socks5_proxy() -> None:
    async with tls_codex(trustme.CA()) as base, Socks5Proxy() as proxy:
        with pytest.raises(ProxyError) as refused:
            await event_types_with({}, base, proxy_url=proxy.url)
    _says_certificate(refused.value)
