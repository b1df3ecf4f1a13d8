"""Is the server up, which build is it, and what does its pool say (or the saved state, when it is down)."""

from __future__ import annotations

from typing import Any

import httpx

from cliproxy import __version__
from cliproxy.cli.diagnose.findings import Finding
from cliproxy.cli.status import from_server, from_state_file
from cliproxy.config.schema import Config


def answers(url: str, timeout: float) -> bool:
    try:
        return httpx.get(url.rstrip("/") + "/healthz", timeout=timeout, verify=False, trust_env=False).is_success
    except httpx.HTTPError:
        return False


def check_server(config: Config, url: str, timeout: float) -> tuple[Finding, dict[str, Any] | None]:
    """The server's line, and its live pool snapshot when it is ours and answers."""
    if not answers(url, timeout):
        return Finding("server", "fail", f"nothing answers at {url}",
                       "start it: `cliproxy serve` (or `cliproxy service install` to keep it running)"), None
    snapshot = from_server(config, url)
    if snapshot is None:
        return Finding("server", "warn", f"a server answers at {url}, but not with this config's local token",
                       "is it started with another --config or auth-dir?"), None
    build = snapshot.get("server") or {}
    running = f"{build.get('version', '?')}" + (f" ({build['commit']})" if build.get("commit") else "")
    if build.get("version") != __version__:
        return Finding("server", "warn", f"cliproxy {running} answers at {url}; this command is {__version__}",
                       "restart the server to run the installed version"), snapshot
    return Finding("server", "ok", f"cliproxy {running} answers at {url}"), snapshot


def pool_snapshot(config: Config, live: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The live snapshot, else the one rebuilt from the account files and the saved state."""
    if live is not None:
        return live, "live"
    return from_state_file(config)[0], "saved state"


__all__ = ["answers", "check_server", "pool_snapshot"]
