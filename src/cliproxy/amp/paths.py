"""The Amp control-plane paths: mounted by ``routes``, and recognised by the front door.

One list for both, so the routes that pass requests on to ampcode.com with the user's Amp key are
exactly the ones the front door keeps browsers away from (no preflight answered, no CORS headers of
ours). Pure: strings in, a bool out.
"""

from __future__ import annotations

# Under /api: each exact, and everything below it.
CONTROL_PATHS = ("/api/internal", "/api/user", "/api/auth", "/api/meta", "/api/telemetry", "/api/threads",
                 "/api/otel", "/api/tab")
# Under /api, exact only.
CONTROL_EXACT = ("/api/ads", "/api/thread-actors")
# Gemini's Vertex-style paths: model calls may be served here, everything else goes to ampcode.com.
GOOGLE_BRIDGE = "/api/provider/google/v1beta1"
# Root-level pages Amp opens in a browser (GET), each exact and everything below it.
GET_PAGES = ("/threads", "/docs", "/settings")
FEEDS = ("/threads.rss", "/news.rss")
AUTH_PAGE = "/auth"


def _at_or_below(path: str, bases: tuple[str, ...]) -> bool:
    return any(path == base or path.startswith(base + "/") for base in bases)


def is_control_path(path: str) -> bool:
    """Whether ``path`` is one of Amp's control-plane routes or pages (anything that acts as the Amp
    account owner once an upstream is set), the v1beta1 bridge included."""
    return (_at_or_below(path, (*CONTROL_PATHS, *GET_PAGES, AUTH_PAGE)) or path in CONTROL_EXACT
            or path in FEEDS or path.startswith(GOOGLE_BRIDGE + "/"))


__all__ = ["AUTH_PAGE", "CONTROL_EXACT", "CONTROL_PATHS", "FEEDS", "GET_PAGES", "GOOGLE_BRIDGE", "is_control_path"]
