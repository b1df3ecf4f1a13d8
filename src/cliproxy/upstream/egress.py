"""The way out of every client the proxy builds: which proxy it goes through and which CAs it trusts.

Inference, token refresh, login, the quota poll and model discovery all leave through an httpx
client, and each must read ``proxy-url`` the same way, or one of them leaves from the direct IP
while the others use the proxy:

- ``""``: the config's ``proxy-url`` if it has one, else the environment (``HTTP(S)_PROXY``,
  ``ALL_PROXY``, ``NO_PROXY``), as httpx reads it;
- ``direct`` or ``none``: no proxy, whatever the environment says;
- a URL: ``http://``, ``https://``, ``socks5://`` or ``socks5h://`` (SOCKS through httpx's own
  ``socks`` extra, a dependency), with ``user:password@`` if the proxy needs it.

Trust: certifi's bundle (or ``SSL_CERT_FILE``) by default; ``upstream.system-trust`` uses the
operating system's store instead (through truststore, loaded only then); ``upstream.ca-file`` adds
a PEM bundle to either, for a corporate CA that re-signs TLS.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import httpx

from cliproxy.config.schema import DIRECT, Upstream


def chosen_proxy(own: str, configured: str) -> str:
    """The proxy of one account (``own``), else the config's: an account's ``direct`` wins over
    the config's proxy, as an account's URL does."""
    return own.strip() or configured.strip()


def ssl_context(upstream: Upstream, environment: bool = True) -> ssl.SSLContext | None:
    """A fresh context for ``upstream.ca-file`` and ``upstream.system-trust``; None when neither is
    set and ``environment`` lets httpx read ``SSL_CERT_FILE`` itself. Fresh per client: httpx and
    our transport both set ALPN on the context they are given, so two clients must not share one."""
    if upstream.system_trust:
        import truststore  # loaded only when asked for: nothing else needs it

        context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    elif upstream.ca_file or not environment:
        context = httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR when set
    else:
        return None
    if upstream.ca_file:
        context.load_verify_locations(cafile=os.path.expanduser(upstream.ca_file))
    return context


def client_options(proxy: str, upstream: Upstream) -> dict[str, Any]:
    """``httpx.AsyncClient`` keywords for one way out; ``proxy`` as ``chosen_proxy`` returns it.
    A client given its proxy does not read the environment (``trust_env=False``), so its context
    is built here, where ``SSL_CERT_FILE`` is still honoured."""
    context = ssl_context(upstream, environment=not proxy)
    options: dict[str, Any] = {"proxy": proxy if proxy and proxy not in DIRECT else None, "trust_env": not proxy}
    if context is not None:
        options["verify"] = context
    return options


def new_client(proxy: str, upstream: Upstream, **options: Any) -> httpx.AsyncClient:
    """An httpx client leaving through ``proxy`` (see the module docstring) with the configured trust."""
    return httpx.AsyncClient(**client_options(proxy, upstream), **options)


__all__ = ["chosen_proxy", "client_options", "new_client", "ssl_context"]
