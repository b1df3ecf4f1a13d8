"""The device-code flow against the fake issuer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from cliproxy.auth.device import DeviceCode, parse_interval, poll_device_token, request_device_code
from cliproxy.auth.errors import AuthenticationError, DeviceFlowError
from cliproxy.auth.login import LoginContext, SavedAccount, run_device_login
from cliproxy.auth.oauth import Endpoints
from cliproxy.config.schema import Config
from tests.auth.conftest import FakeUI
from tests.fakes.issuer import CLIENT_ID, FakeIssuer, Scripted


class Approver:
    """A sleep that records waits and approves the device code after ``after`` pending polls."""

    def __init__(self, issuer: FakeIssuer, ui: FakeUI, after: int = 2) -> None:
        self.issuer, self.ui, self.after = issuer, ui, after
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == self.after:
            code = next(line.split()[-1] for line in self.ui.lines if "Enter" in line)
            self.issuer.approve(code)


async def device_login(config: Config, ui: FakeUI, sleep: Any, **options: Any) -> SavedAccount:
    async with httpx.AsyncClient() as http:
        return await run_device_login(LoginContext.from_config(config, http), ui, no_browser=True,
                                      sleep=sleep, **options)


async def test_device_happy_path(config: Config, issuer: FakeIssuer, accounts_dir: Path) -> None:
    ui = FakeUI()
    approver = Approver(issuer, ui)
    saved = await device_login(config, ui, approver)

    usercode = issuer.on("/api/accounts/deviceauth/usercode")[0]
    assert usercode.body == {"client_id": CLIENT_ID} and usercode.content_type == "application/json"
    polls = issuer.on("/api/accounts/deviceauth/token")
    assert len(polls) == 3 and approver.waits == [1.0, 1.0]
    assert set(polls[0].body) == {"device_auth_id", "user_code"}
    assert any(f"{issuer.url}/codex/device" in line for line in ui.lines)
    assert any(polls[0].body["user_code"] in line for line in ui.lines)
    assert any("Never share it" in line for line in ui.lines)
    exchange = issuer.grants("authorization_code")[0]
    assert exchange.body["redirect_uri"] == f"{issuer.url}/deviceauth/callback"
    assert exchange.body["code_verifier"] in issuer.secrets
    assert saved.email == "u@example.com" and (accounts_dir / saved.name).exists()


@pytest.mark.parametrize(("value", "seconds"), [(2, 2.0), (None, 5.0), ("0", 5.0), ("abc", 5.0), ("3", 3.0)])
def test_interval_variants(value: Any, seconds: float) -> None:
    assert parse_interval(value) == seconds


async def test_integer_interval_is_honoured(config: Config, issuer: FakeIssuer) -> None:
    issuer.device_interval = 2
    ui = FakeUI()
    approver = Approver(issuer, ui, after=1)
    await device_login(config, ui, approver)
    assert approver.waits == [2.0]


async def test_usercode_key_is_accepted(issuer: FakeIssuer) -> None:
    issuer.usercode_replies.append(Scripted(200, {"device_auth_id": "d1", "usercode": "ABCD-1234",
                                                  "interval": "1"}))
    async with httpx.AsyncClient() as http:
        code = await request_device_code(http, Endpoints(issuer.url))
    assert (code.device_auth_id, code.user_code, code.interval) == ("d1", "ABCD-1234", 1.0)


@pytest.mark.parametrize(("reply", "message"), [
    (Scripted(200, {"user_code": "A"}), "codex device flow did not return required fields"),
    (Scripted(404, ""), "codex device endpoint is unavailable (status 404)"),
    (Scripted(503, ""), "codex device code request failed with status 503: empty response body"),
])
async def test_user_code_failures(issuer: FakeIssuer, reply: Scripted, message: str) -> None:
    issuer.usercode_replies.append(reply)
    async with httpx.AsyncClient() as http:
        with pytest.raises(DeviceFlowError) as caught:
            await request_device_code(http, Endpoints(issuer.url))
    assert str(caught.value) == message


CODE = DeviceCode(device_auth_id="d1", user_code="ABCD-1234", interval=1.0, verification_url="x")


async def test_poll_success_missing_verifier(issuer: FakeIssuer) -> None:
    issuer.poll_replies.append(Scripted(200, {"authorization_code": "AC", "code_challenge": "CH"}))
    async with httpx.AsyncClient() as http:
        with pytest.raises(DeviceFlowError, match="token response missing required fields"):
            await poll_device_token(http, Endpoints(issuer.url), CODE)


async def test_poll_hard_error_stops_at_once(issuer: FakeIssuer) -> None:
    issuer.poll_replies.extend([Scripted(403, ""), Scripted(400, {"error": "authorization_declined"})])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with httpx.AsyncClient() as http:
        with pytest.raises(DeviceFlowError) as caught:
            await poll_device_token(http, Endpoints(issuer.url), CODE, sleep=sleep)
    assert "status 400" in str(caught.value) and "authorization_declined" in str(caught.value)
    assert len(issuer.on("/api/accounts/deviceauth/token")) == 2 and waits == [1.0]


async def test_device_timeout_names_the_real_limit(issuer: FakeIssuer) -> None:
    # an injectable limit and clock
    issuer.poll_replies.extend([Scripted(404, "")] * 10)
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async with httpx.AsyncClient() as http:
        with pytest.raises(DeviceFlowError) as caught:
            await poll_device_token(http, Endpoints(issuer.url), CODE, timeout=3, sleep=sleep,
                                    clock=lambda: now[0])
    assert str(caught.value) == "codex device authentication timed out after 3 seconds"
    assert len(issuer.on("/api/accounts/deviceauth/token")) == 3


async def test_cancel_during_the_wait_writes_nothing(config: Config, issuer: FakeIssuer,
                                                     accounts_dir: Path) -> None:
    issuer.device_interval = "30"
    task = asyncio.create_task(device_login(config, FakeUI(), asyncio.sleep))
    while not issuer.on("/api/accounts/deviceauth/token"):
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)
    assert not list(accounts_dir.glob("*.json"))


async def test_device_exchange_failure(config: Config, issuer: FakeIssuer, accounts_dir: Path) -> None:
    ui = FakeUI()
    issuer.token_replies.append(Scripted(400, {"error": "invalid_grant"}))
    with pytest.raises(AuthenticationError) as caught:
        await device_login(config, ui, Approver(issuer, ui, after=1))
    assert caught.value.kind == "code_exchange_failed"
    assert not list(accounts_dir.glob("*.json"))
