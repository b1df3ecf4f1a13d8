"""Client API keys (proxy.md §7.1): which request may use the proxy, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from cliproxy.auth.claims import AUTH_CLAIM, decode_jwt
from cliproxy.errors import ProxyError

PROTECTED_PREFIXES = ("/v1/", "/v1beta/", "/backend-api/", "/api/", "/metrics")
# Codex CLI's quota routes (quota.md §6): signed in with ChatGPT, it sends its own ChatGPT token.
USAGE_SUFFIXES = ("/wham/usage", "/api/codex/usage", "/wham/accounts/check")


def is_usage_path(path: str) -> bool:
    return path.rstrip("/").endswith(USAGE_SUFFIXES)


def is_relayed_path(path: str) -> bool:
    """A ChatGPT backend path relayed with the caller's own identity (quota.md §6): under
    ``/backend-api/``, neither a usage route nor the Codex API, which the proxy serves itself."""
    return path.startswith("/backend-api/") and not path.startswith("/backend-api/codex/") and not is_usage_path(path)


def is_chatgpt_bearer(headers: Mapping[str, str]) -> bool:
    """A ChatGPT access token (a JWT with OpenAI's auth claim), as Codex CLI sends when signed in."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() != "bearer ":
        return False
    return AUTH_CLAIM in decode_jwt(auth[7:].strip())


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key a client sent: Bearer, X-Goog-Api-Key, X-Api-Key, ?key=, ?auth_token= (in order)."""
    auth = headers.get("authorization")
    if auth:
        return auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
    for name in ("x-goog-api-key", "x-api-key"):
        if value := headers.get(name):
            return value.strip()
    for name in ("key", "auth_token"):
        if value := query.get(name):
            return value.strip()
    return None


def key_matches(candidate: str, keys: Sequence[str]) -> str | None:
    """The configured key equal to ``candidate``; every key is compared, in constant time."""
    found = None
    encoded = candidate.encode()
    for key in keys:
        if hmac.compare_digest(encoded, key.encode()):
            found = key
    return found


def check_access(headers: Mapping[str, str], query: Mapping[str, str], keys: Sequence[str]) -> str | None:
    """The matched key (None in open mode); ProxyError 401 when a key is missing or wrong."""
    if not keys:
        return None
    candidate = presented_key(headers, query)
    if not candidate:
        raise ProxyError(401, "Missing API key: send it as `Authorization: Bearer <key>`.",
                         code="invalid_api_key", type="authentication_error")
    matched = key_matches(candidate, keys)
    if matched is None:
        raise ProxyError(401, "Invalid API key.", code="invalid_api_key", type="authentication_error")
    return matched
