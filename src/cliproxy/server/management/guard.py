"""Who may call the management API (docs/routes.md, "Management API").

Off unless a secret is configured (``remote-management.secret-key``, bcrypt-hashed on load, or the
``MANAGEMENT_PASSWORD`` environment variable). Loopback clients only unless ``allow-remote``; the
client address is the socket's, never ``X-Forwarded-For``. Five wrong keys from one address ban it
for 30 minutes; a right key resets its count. Every process on this machine shares the loopback
address, so a loopback ban lasts one minute only: long enough to slow guessing to five keys a minute,
too short for a local process to lock the owner out. All loopback addresses count as one (any of
127.0.0.0/8 reaches the server), and a ban of a remote address never touches loopback.
Keys are compared in constant time; a bcrypt check is slow on purpose, so it runs in a thread and a
key once verified against the current hash is remembered as its SHA-256 digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Mapping

from cliproxy.config.edit import is_bcrypt_hash
from cliproxy.config.schema import Config
from cliproxy.server.gate import is_loopback

MAX_FAILURES = 5
BAN_SECONDS = 30 * 60.0
LOOPBACK_BAN_SECONDS = 60.0
LOOPBACK = "loopback"  # the one address all loopback clients are counted under
ENV_PASSWORD = "MANAGEMENT_PASSWORD"


class Denied(Exception):
    """A refused management call: the HTTP status and CPA's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def presented_key(headers: Mapping[str, str]) -> str:
    if value := headers.get("x-management-key"):
        return value.strip()
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()


def _duration(seconds: float) -> str:
    """Go's duration style, as CPA prints it: ``29m59s``."""
    total = max(1, int(seconds))
    minutes, secs = divmod(total, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class Guard:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 environ: Mapping[str, str] | None = None) -> None:
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._failures: dict[str, int] = {}
        self._banned: dict[str, float] = {}
        self._verified: tuple[str, bytes] | None = None  # (hash, sha256 of the key that matched it)

    @property
    def environ(self) -> Mapping[str, str]:
        """Where ``MANAGEMENT_PASSWORD`` is read from (the dashboard notices it change)."""
        return self._environ

    def enabled(self, config: Config) -> bool:
        return bool(config.remote_management.secret_key or self._environ.get(ENV_PASSWORD))

    async def check(self, client_ip: str, headers: Mapping[str, str], config: Config) -> None:
        """Raise Denied unless this call may proceed."""
        local = is_loopback(client_ip)
        if not config.remote_management.allow_remote and not local:
            raise Denied(403, "remote management disabled")
        client_ip = LOOPBACK if local else client_ip
        until = self._banned.get(client_ip)
        if until is not None:
            left = until - self._clock()
            if left > 0:
                raise Denied(403, f"IP banned due to too many failed attempts. Try again in {_duration(left)}")
            del self._banned[client_ip]
        key = presented_key(headers)
        if not key:
            raise Denied(401, "missing management key")
        if not await self._verify(key, config):
            self._failed(client_ip)
            raise Denied(401, "invalid management key")
        self._failures.pop(client_ip, None)

    def _failed(self, client_ip: str) -> None:
        count = self._failures.get(client_ip, 0) + 1
        if count >= MAX_FAILURES:
            self._failures.pop(client_ip, None)
            length = LOOPBACK_BAN_SECONDS if client_ip == LOOPBACK else BAN_SECONDS
            self._banned[client_ip] = self._clock() + length
        else:
            self._failures[client_ip] = count

    async def _verify(self, key: str, config: Config) -> bool:
        env = self._environ.get(ENV_PASSWORD, "")
        if env and hmac.compare_digest(key.encode(), env.encode()):
            return True
        secret = config.remote_management.secret_key
        if not secret:
            return False
        if not is_bcrypt_hash(secret):
            return hmac.compare_digest(key.encode(), secret.encode())
        digest = hashlib.sha256(key.encode()).digest()
        cached = self._verified
        if cached is not None and cached[0] == secret and hmac.compare_digest(digest, cached[1]):
            return True
        import bcrypt  # only when a hashed key is checked

        try:
            ok = await asyncio.to_thread(bcrypt.checkpw, key.encode(), secret.encode())
        except ValueError:
            return False
        if ok:
            self._verified = (secret, digest)
        return ok


__all__ = ["BAN_SECONDS", "LOOPBACK_BAN_SECONDS", "Denied", "Guard", "presented_key"]
