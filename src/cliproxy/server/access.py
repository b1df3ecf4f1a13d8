"""Client API keys: which request may use the proxy, found by digest (``keys/model.py`` says why that is safe).

The order keys are read in, and who needs one, are in docs/routes.md, "Access: the front door".
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence

from cliproxy.auth.claims import AUTH_CLAIM, decode_jwt
from cliproxy.config.exposure import is_loopback
from cliproxy.errors import ProxyError
from cliproxy.keys.model import KeyRing, KeySpec
from cliproxy.keys.policy import check_key

PROTECTED_PREFIXES = ("/v1/", "/v1beta/", "/backend-api/", "/api/", "/metrics")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Codex CLI's quota routes: signed in with ChatGPT, it sends its own ChatGPT token there.
USAGE_SUFFIXES = ("/wham/usage", "/api/codex/usage", "/wham/accounts/check")


def is_usage_path(path: str) -> bool:
    return path.rstrip("/").endswith(USAGE_SUFFIXES)


def is_relayed_path(path: str) -> bool:
    """A ChatGPT backend path relayed with the caller's own identity: under
    ``/backend-api/``, neither a usage route nor the Codex API, which the proxy serves itself."""
    return path.startswith("/backend-api/") and not path.startswith("/backend-api/codex/") and not is_usage_path(path)


def is_chatgpt_bearer(headers: Mapping[str, str]) -> bool:
    """A ChatGPT access token (a JWT with OpenAI's auth claim), as Codex CLI sends when signed in."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() != "bearer ":
        return False
    return AUTH_CLAIM in decode_jwt(auth[7:].strip())


def host_name(host_header: str) -> str:
    """``example.com:8317`` → ``example.com``; ``[::1]:8317`` → ``[::1]``."""
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def names_this_machine(host_header: str, allowed_hosts: Sequence[str] = ()) -> bool:
    """Whether a ``Host`` header names this machine (or one of ``allowed-hosts``). A web page that
    reaches a loopback server through DNS rebinding sends its own name here, never these."""
    name = host_name(host_header).lower()
    return name in LOOPBACK_NAMES or name in (host.lower() for host in allowed_hosts)


def is_local_codex_cli(headers: Mapping[str, str], client_host: str, allowed_hosts: Sequence[str] = ()) -> bool:
    """Codex CLI on this machine, signed in with ChatGPT: a loopback peer, a ``Host`` naming this
    machine and a ChatGPT token. The token is not verified (the proxy is not its audience), so the
    peer and the ``Host`` are what keep a web page in the user's browser from passing as Codex CLI."""
    return (is_loopback(client_host) and names_this_machine(headers.get("host", ""), allowed_hosts)
            and is_chatgpt_bearer(headers))


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


class KeyFailures:
    """Wrong client keys per client address: after ``limit`` within ``window`` seconds, that address
    gets 429 with ``Retry-After`` for every further wrong key, so keys cannot be guessed at speed.
    A right key is never refused (the check only runs after a key failed to match), so a script
    with a typo cannot lock its owner out. Loopback counts like any address: a local web page
    could guess as well as a remote client; every loopback address counts as one. At most
    ``addresses`` are remembered, the oldest dropped first, so a flood of them costs bounded memory."""

    def __init__(self, limit: int = 10, window: float = 60.0, addresses: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.addresses, self._clock = limit, window, addresses, clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def failed(self, address: str) -> None:
        """One wrong key from ``address``; ProxyError 429 once it already sent ``limit`` within the
        window. A refused attempt is not counted, so ``Retry-After`` is exact."""
        now = self._clock()
        address = "loopback" if is_loopback(address) else address  # 127.0.0.0/8 is one machine
        times = self._seen.pop(address, None) or deque(maxlen=self.limit)
        self._seen[address] = times
        if len(times) == self.limit and now - times[0] < self.window:
            wait = max(1, math.ceil(times[0] + self.window - now))
            raise ProxyError(429, f"Too many wrong API keys from this address; try again in {wait} s.",
                             code="too_many_wrong_keys", type="rate_limit_error", retry_after=wait)
        times.append(now)
        if len(self._seen) > self.addresses:
            self._seen.popitem(last=False)


def check_access(headers: Mapping[str, str], query: Mapping[str, str], ring: KeyRing,
                 failures: KeyFailures | None = None, address: str = "") -> tuple[str, KeySpec] | None:
    """The key sent and the client key it matched (None in open mode); ProxyError 401 when a key is
    missing, wrong, disabled or expired, 429 when ``address`` sent too many wrong ones (``failures``)."""
    if not ring:
        return None
    candidate = presented_key(headers, query)
    if not candidate:
        raise ProxyError(401, "Missing API key: send it as `Authorization: Bearer <key>`.",
                         code="invalid_api_key", type="authentication_error")
    matched = ring.find(candidate)
    if matched is None:
        if failures is not None:
            failures.failed(address)
        raise ProxyError(401, "Invalid API key.", code="invalid_api_key", type="authentication_error")
    check_key(matched, time.time())
    return candidate, matched
