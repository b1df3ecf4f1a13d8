"""Credentials and a hand-driven clock for pool tests."""

from __future__ import annotations

from typing import Any

from cliproxy.credential import Credential
from cliproxy.errors import Outcome, ProxyError

MODEL = "gpt-5.4"


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def cred(name: str, **fields: Any) -> Credential:
    base: dict[str, Any] = {"id": f"codex-{name}.json", "kind": "oauth", "access_token": f"tok-{name}",
                            "base_url": "http://upstream", "email": f"{name}@example.com", "plan": "plus"}
    return Credential(**{**base, **fields})


def failure(outcome: Outcome, status: int = 500, retry_after: float | None = None,
            message: str = "upstream said no", **extra: Any) -> ProxyError:
    return ProxyError(status, message, outcome=outcome, retry_after=retry_after, extra=extra)
