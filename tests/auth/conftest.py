"""Fixtures of the auth tests: a fake issuer, a config pointing at it, a store, and the rule that no
secret the issuer handed out ever shows up in a log line."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cliproxy.auth.oauth import TokenBundle
from cliproxy.auth.record import record_from_tokens
from cliproxy.auth.store import FileStore
from cliproxy.config.load import parse_config
from cliproxy.config.schema import Config
from tests.fakes.issuer import FakeIssuer, Identity, running_issuer


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    with running_issuer() as running:
        yield running


@pytest.fixture
def accounts_dir(tmp_path: Path) -> Path:
    return tmp_path / "auth"


@pytest.fixture
def config(issuer: FakeIssuer, accounts_dir: Path) -> Config:
    return parse_config({"auth-dir": str(accounts_dir), "oauth-issuer": issuer.url,
                         "codex-base-url": "http://127.0.0.1:9/backend-api/codex"})


@pytest.fixture
def store(accounts_dir: Path) -> FileStore:
    return FileStore(accounts_dir)


@pytest.fixture(autouse=True)
def no_secret_in_logs(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """auth.md §9 test 47: with debug logging on, no token, code, verifier or key reaches a log."""
    caplog.set_level(logging.DEBUG)
    issuer: FakeIssuer | None = (request.getfixturevalue("issuer") if "issuer" in request.fixturenames
                                 else None)
    yield
    if issuer is None:
        return
    text = caplog.text
    leaked = [secret[:12] + "…" for secret in issuer.secrets if secret and secret in text]
    assert not leaked, f"secrets in log output: {leaked}"


def seed_account(issuer: FakeIssuer, store: FileStore, identity: Identity | None = None, *,
                 now: float | None = None, expires_in: int | None = None, **extra: Any) -> tuple[str, dict[str, Any]]:
    """An account file holding a refresh token the fake issuer will accept (once)."""
    who = identity or issuer.identity
    body = issuer.tokens(who, expires_in=expires_in)
    bundle = TokenBundle(access_token=body["access_token"], refresh_token=body["refresh_token"],
                         id_token=body["id_token"], expires_in=body.get("expires_in"))
    record = record_from_tokens(bundle, time.time() if now is None else now)
    record.update(extra)
    name = f"codex-{who.email}-{who.plan}.json"
    store.write(name, record)
    return name, record


class FakeUI:
    """LoginUI for in-process tests: records what is shown, reads from a queue."""

    def __init__(self, browser: bool = True) -> None:
        self.browser = browser  # whether "opening the browser" works
        self.lines: list[str] = []
        self.urls: list[str] = []
        self.prompts: list[str] = []
        self.opened: list[str] = []
        self.statuses: list[str | None] = []
        self.inputs: asyncio.Queue[str | None] = asyncio.Queue()
        self.url_shown = asyncio.Event()

    def say(self, text: str) -> None:
        self.lines.append(text)

    def show_url(self, url: str) -> None:
        self.urls.append(url)
        self.url_shown.set()

    def open_browser(self, url: str) -> bool:
        self.opened.append(url)
        return self.browser

    def waiting(self, text: str | None) -> None:
        self.statuses.append(text)

    def prompt(self, text: str) -> None:
        self.prompts.append(text)

    async def read_line(self) -> str | None:
        return await self.inputs.get()

    @property
    def text(self) -> str:
        return "\n".join(self.lines + self.urls + self.prompts + [s for s in self.statuses if s])
