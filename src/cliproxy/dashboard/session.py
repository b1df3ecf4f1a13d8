"""Dashboard logins: a session cookie after the management secret, and a CSRF token per session.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it) and
scoped to the dashboard's path; it is Secure when the page was served over TLS. Every state change
must also carry the session's CSRF token in a header, which only the page itself can read (it gets
it in the login answer). A session ends after ``SESSION_SECONDS``, at logout, or when the
management secret changes; at most ``MAX_SESSIONS`` live at once (the oldest goes first).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "cliproxy_dashboard"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600.0
MAX_SESSIONS = 32


@dataclass(frozen=True)
class Session:
    csrf: str
    expires: float
    secret: str  # a digest of the management secret it was opened with

    def allows(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (compared in constant time)."""
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf.encode())


def secret_digest(*secrets_in_use: str) -> str:
    """What a session remembers of the secret: enough to notice a change, nothing to log in with."""
    return hashlib.sha256("\0".join(secrets_in_use).encode()).hexdigest()


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open: dict[str, Session] = {}

    def open(self, secret: str) -> tuple[str, Session]:
        """A new session: its cookie value and the session."""
        now = self._clock()
        for token in [t for t, s in self._open.items() if s.expires <= now]:
            del self._open[token]
        while len(self._open) >= MAX_SESSIONS:
            del self._open[next(iter(self._open))]
        token = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), expires=now + SESSION_SECONDS, secret=secret)
        self._open[token] = session
        return token, session

    def find(self, token: str | None, secret: str) -> Session | None:
        """The session of this cookie value, if it is still good for the current secret."""
        session = self._open.get(token or "")
        if session is None:
            return None
        if session.expires <= self._clock() or not hmac.compare_digest(session.secret, secret):
            del self._open[str(token)]
            return None
        return session

    def close(self, token: str | None) -> None:
        self._open.pop(token or "", None)


def cookie(token: str, *, secure: bool, max_age: int = int(SESSION_SECONDS), path: str = "/dashboard") -> str:
    """The Set-Cookie value; ``max_age`` 0 removes the cookie."""
    flags = f"; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    return f"{COOKIE}={token}{flags}" + ("; Secure" if secure else "")


__all__ = ["COOKIE", "CSRF_HEADER", "MAX_SESSIONS", "SESSION_SECONDS", "Session", "Sessions", "cookie",
           "secret_digest"]
