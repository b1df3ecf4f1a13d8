"""The ``Credential``: one account the proxy can send requests with, as every layer sees it.

The pool picks credentials, the upstream sends with them, the registry routes models to them and
auth refreshes them, so the type sits at the top of the package and imports only the standard
library: using it never loads config, auth or a network library. Building one from an account
file or a config entry is ``auth.credentials``' job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class OfferedModel:
    """A model an API key serves: ``name`` is what Codex gets, ``alias`` (if set) what clients ask for."""

    name: str
    alias: str = ""


@dataclass(frozen=True)
class Credential:
    """One account the proxy can send requests with. Secrets are excluded from ``repr``."""

    id: str  # auth-file path relative to auth-dir, or "api-key:<n>"
    kind: Literal["oauth", "api-key"]
    access_token: str = field(repr=False)
    base_url: str
    account_id: str = ""
    email: str = ""
    plan: str = ""
    label: str = ""
    prefix: str = ""
    priority: int = 0
    weight: int = 1
    proxy_url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    excluded_models: tuple[str, ...] = ()
    models: tuple[OfferedModel, ...] = ()  # API keys only: exactly these models, none = the plan list
    disabled: bool = False
    disable_cooling: bool = False
    # May reach the backend over its WebSocket when a client's socket is served by it (ChatGPT
    # accounts unless their file says ``websockets: false``; API keys only with ``websockets: true``).
    websockets: bool = False
    auth_error: str = ""
    path: Path | None = None
    # What refresh scheduling needs; unset for API keys.
    refresh_token: str = field(default="", repr=False)
    expires_at: float | None = None  # access-token expiry, Unix seconds
    last_refresh_at: float | None = None
    refresh_interval: float | None = None  # per-file override, seconds

    @property
    def name(self) -> str:
        """How the user recognises the account in messages and listings."""
        return self.label or self.email or self.id

    @property
    def usable(self) -> bool:
        return not self.disabled and not self.auth_error and bool(self.access_token)


__all__ = ["Credential", "OfferedModel"]
