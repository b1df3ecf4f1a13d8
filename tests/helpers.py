"""Test helpers: account files and a proxy server running on a loopback socket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from cliproxy.config.load import parse_config
from cliproxy.config.snapshot import Snapshot
from cliproxy.server.app import build_app, build_services
from cliproxy.server.connection import bounded_protocol
from cliproxy.server.services import Services
from cliproxy.server.websocket import websocket_protocol
from tests.fakes.serving import serve_in_thread


def make_jwt(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, "test-signing-key-not-verified-by-anyone", algorithm="HS256")


def id_token(email: str, account_id: str, plan: str = "plus") -> str:
    return make_jwt({"email": email, "https://api.openai.com/auth": {
        "chatgpt_account_id": account_id, "chatgpt_plan_type": plan}})


def access_token(token: str, account_id: str, plan: str = "plus", lifetime: float = 864000) -> str:
    """A real-looking access JWT whose payload carries ``token`` so fakes can tell accounts apart."""
    return make_jwt({"jti": token, "exp": int(time.time() + lifetime),
                     "https://api.openai.com/auth": {"chatgpt_account_id": account_id,
                                                     "chatgpt_plan_type": plan}})


def write_account(auth_dir: Path, name: str, token: str, account_id: str, plan: str = "plus",
                  **extra: Any) -> Path:
    """A CPA-format account file. ``token`` is used verbatim as the access token."""
    auth_dir.mkdir(parents=True, exist_ok=True)
    record = {"type": "codex", "email": f"{name}@example.com", "account_id": account_id,
              "id_token": id_token(f"{name}@example.com", account_id, plan), "access_token": token,
              "refresh_token": f"rt-{name}", "expired": "2099-01-01T00:00:00Z",
              "last_refresh": "2026-11-01T00:00:00Z", "disabled": False, **extra}
    path = auth_dir / f"codex-{name}.json"
    path.write_text(json.dumps(record))
    path.chmod(0o600)
    return path


@dataclass
class Proxy:
    url: str
    services: Services

    @property
    def v1(self) -> str:
        return self.url + "/v1"


@contextmanager
def run_proxy(auth_dir: Path, upstream_url: str, **config: Any) -> Iterator[Proxy]:
    """The real app on a real socket, configured like a user's config.yaml (kebab-case keys)."""
    raw = {"auth-dir": str(auth_dir), "codex-base-url": upstream_url, **config}
    raw.setdefault("models", {"discovery": False})
    snapshot = Snapshot.build(parse_config(raw))
    services = build_services(snapshot, "127.0.0.1")
    with serve_services(services) as url:
        yield Proxy(url, services)


@contextmanager
def serve_services(services: Services) -> Iterator[str]:
    """The app over ``services`` on a loopback socket, with the connection bounds ``cliproxy serve`` has."""
    limits = lambda: services.holder.current.config.limits  # noqa: E731
    ping = services.holder.current.config.streaming.keepalive_seconds or None
    with serve_in_thread(build_app(services), http=bounded_protocol(limits), ws=websocket_protocol(limits),
                         ws_ping_interval=ping, proxy_headers=False) as url:
        yield url
