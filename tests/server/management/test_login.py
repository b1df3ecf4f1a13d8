"""Adding an account from the management API: start a login, come back by the callback route, the
forwarder or a pasted URL, poll its status, and find the account serving."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.codex_backend import FakeCodex
from tests.fakes.serving import free_port, serve_in_thread
from tests.helpers import access_token, id_token
from tests.serve_process import run_configured
from tests.server.management.conftest import CONFIG, SECRET, Managed, scanner


@dataclass
class Issuer:
    """The token endpoint of a fake issuer: any code gives new tokens for new@example.com."""

    url: str = ""
    codes: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        self.codes.append(str(form["code"]))
        if form["code"] == "bad-code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        tokens = {"access_token": access_token("access-new-5566778899", "acc-new"),
                  "refresh_token": "rt_new_refresh_000111222333", "id_token": id_token("new@example.com", "acc-new"),
                  "expires_in": 3600}
        self.tokens.extend(tokens[k] for k in ("access_token", "refresh_token", "id_token"))  # type: ignore[misc]
        return JSONResponse(tokens)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    fake = Issuer()
    with serve_in_thread(Starlette(routes=[Route("/oauth/token", fake.token, methods=["POST"])])) as url:
        fake.url = url
        yield fake


@pytest.fixture
def login_proxy(tmp_path: Path, fake: FakeCodex, issuer: Issuer) -> Iterator[Managed]:
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, CONFIG + f"oauth-issuer: {issuer.url}\n") as proxy:
        secrets = [SECRET, "access-new-5566778899", "rt_new_refresh_000111222333"]
        with scanner(secrets) as api:
            api.base_url = httpx.URL(proxy.url + "/v0/management")
            api.headers["authorization"] = f"Bearer {SECRET}"
            yield Managed(proxy, api, fake, tmp_path, secrets)


def wait_status(api: httpx.Client, state: str, want: str) -> dict[str, str]:
    deadline = time.monotonic() + 15
    while True:
        status: dict[str, str] = api.get("/get-auth-status", params={"state": state}).json()
        if status["status"] == want or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def start(api: httpx.Client, **params: str) -> tuple[str, str]:
    started = api.get("/codex-auth-url", params=params).json()
    assert started["status"] == "ok" and "code_challenge=" in started["url"]
    assert parse_qs(urlsplit(started["url"]).query)["state"] == [started["state"]]
    return started["url"], started["state"]


def test_login_by_the_callback_route_adds_a_serving_account(login_proxy: Managed, issuer: Issuer) -> None:
    api = login_proxy.api
    _url, state = start(api)
    assert api.get("/get-auth-status", params={"state": state}).json() == {"status": "wait"}
    page = httpx.get(login_proxy.proxy.url + "/codex/callback", params={"code": "good-code", "state": state})
    assert page.status_code == 200 and "Authentication successful" in page.text
    assert wait_status(api, state, "ok") == {"status": "ok"}
    assert issuer.codes == ["good-code"]
    names = [c.email for c in login_proxy.proxy.services.holder.current.credentials]
    assert "new@example.com" in names
    replay = httpx.get(login_proxy.proxy.url + "/codex/callback", params={"code": "good-code", "state": state})
    assert replay.status_code == 400  # the login is over


def test_login_by_a_pasted_redirect_url_and_its_errors(login_proxy: Managed, issuer: Issuer) -> None:
    api = login_proxy.api
    _url, state = start(api)
    assert api.post("/oauth-callback", json={"redirect_url": "http://localhost:1455/auth/callback?code=x"}
                    ).status_code == 400  # no state
    assert api.post("/oauth-callback", json={"state": "a/b", "code": "x"}).status_code == 400
    assert api.post("/oauth-callback", json={"state": state}).status_code == 400  # neither code nor error
    assert api.post("/oauth-callback", json={"state": "f" * 32, "code": "x"}).status_code == 404
    assert api.post("/oauth-callback", json={"state": state, "code": "x", "provider": "gemini"}).status_code == 400
    redirect = f"http://localhost:1455/auth/callback?code=good-code&state={state}"
    assert api.post("/oauth-callback", json={"provider": "codex", "redirect_url": redirect}).json() == {"status": "ok"}
    assert api.post("/oauth-callback", json={"redirect_url": redirect}).status_code == 409
    assert wait_status(api, state, "ok") == {"status": "ok"}
    saved = [p for p in (login_proxy.tmp_path / "auth").glob("*.json") if "new" in p.name]
    assert len(saved) == 1 and json.loads(saved[0].read_text())["email"] == "new@example.com"

    _url, failing = start(api)
    assert api.post("/oauth-callback", json={"state": failing, "code": "bad-code"}).status_code == 200
    status = wait_status(api, failing, "error")
    assert status["status"] == "error"
    assert status["error"].startswith("Failed to exchange authorization code for tokens")
    _url, denied = start(api)
    api.post("/oauth-callback", json={"state": denied, "error": "access_denied"})
    assert wait_status(api, denied, "error") == {"status": "error", "error": "Bad Request"}


def test_the_webui_forwarder_sends_the_browser_to_this_server(login_proxy: Managed) -> None:
    logins = login_proxy.proxy.services.ops.logins
    assert logins is not None
    logins.callback_port = free_port()
    url, state = start(login_proxy.api, is_webui="true")
    assert f"localhost%3A{logins.callback_port}" in url
    page = httpx.get(f"http://127.0.0.1:{logins.callback_port}/auth/callback",
                     params={"code": "good-code", "state": state}, follow_redirects=True)
    assert page.status_code == 200 and "Authentication successful" in page.text
    assert wait_status(login_proxy.api, state, "ok") == {"status": "ok"}
