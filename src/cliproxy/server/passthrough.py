"""``passthrough-headers``: the Codex backend's answer headers, forwarded to the client when asked.

Off by default, as in CLIProxyAPI. When on, every header of the serving attempt's answer reaches the
client except those that belong to one connection (RFC 9110 §7.6.1 and any the ``Connection`` header
names), those that could carry a credential or session (``Set-Cookie``, ``Authorization``, proxy
credentials), those the proxy sets itself (length, coding, type, CORS, request id), and the prefixes
AI gateways add (which clients such as Claude Code read as "behind a gateway").
"""

from __future__ import annotations

from collections.abc import Mapping

NEVER_PASSED = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade", "set-cookie", "set-cookie2", "authorization", "www-authenticate",
    "content-length", "content-encoding", "content-type", "date", "server", "cache-control",
    "access-control-allow-credentials", "access-control-allow-headers", "access-control-allow-methods",
    "access-control-allow-origin", "access-control-expose-headers", "access-control-max-age", "x-request-id",
})
GATEWAY_PREFIXES = ("x-litellm-", "helicone-", "x-portkey-", "cf-aig-", "x-kong-", "x-bt-")


def passed_headers(upstream: Mapping[str, str]) -> dict[str, str]:
    """The upstream answer's headers a client may see."""
    scoped = {name.strip().lower() for name in upstream.get("connection", "").split(",")}
    return {name.lower(): value for name, value in upstream.items()
            if name.lower() not in NEVER_PASSED and name.lower() not in scoped
            and not name.lower().startswith(GATEWAY_PREFIXES)}


__all__ = ["GATEWAY_PREFIXES", "NEVER_PASSED", "passed_headers"]
