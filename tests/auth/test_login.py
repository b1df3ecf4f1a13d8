"""The browser login in-process, the test playing the browser."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cliproxy.auth.errors import AccountInfoError, AuthenticationError, AuthError, OAuthError
from cliproxy.auth.login import BrowserOptions, LoginContext, SavedAccount, run_browser_login
from cliproxy.auth.pkce import challenge_for
from cliproxy.auth.record import parse_time
from cliproxy.auth.store import FileStore
from cliproxy.config.schema import Config
from tests.auth.conftest import FakeUI, seed_account
from tests.fakes.issuer import CLIENT_ID, FakeIssuer, Identity, Scripted
from tests.fakes.serving import free_port

HASH = hashlib.sha256(b"acct_1").hexdigest()[:8]
FILE = f"codex-{HASH}-u@example.com-plus.json"


class Browser:
    """Follows the authorize URL at the fake issuer and returns to our callback server."""

    def __init__(self, ui: FakeUI, port: int) -> None:
        self.ui, self.port = ui, port

    async def authorize(self) -> str:
        """The redirect URL the issuer sends the browser to (what a user would paste)."""
        await asyncio.wait_for(self.ui.url_shown.wait(), 5)
        async with httpx.AsyncClient() as client:
            response = await client.get(self.ui.urls[-1])
        assert response.status_code == 302
        return response.headers["location"]

    async def open(self, url: str) -> httpx.Response:
        local = url.replace("http://localhost:1455", f"http://127.0.0.1:{self.port}")
        async with httpx.AsyncClient() as client:
            return await client.get(local)

    async def callback(self, **params: str) -> httpx.Response:
        redirect = urlsplit(await self.authorize())
        query = {k: v[0] for k, v in parse_qs(redirect.query).items()}
        query.update(params)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            response = await client.get("/auth/callback", params=query)
            if response.status_code == 302:  # as a browser would
                await client.get(response.headers["location"])
            return response


async def login(config: Config, ui: FakeUI, **options: object) -> tuple[asyncio.Task[SavedAccount], Browser]:
    port = free_port()
    opts = BrowserOptions(port=port, **options)  # type: ignore[arg-type]
    http = httpx.AsyncClient()
    ctx = LoginContext.from_config(config, http)

    async def run() -> SavedAccount:
        try:
            return await run_browser_login(ctx, ui, opts)
        finally:
            await http.aclose()

    return asyncio.create_task(run()), Browser(ui, port)


async def test_happy_path_writes_the_account_file(config: Config, issuer: FakeIssuer, accounts_dir: Path) -> None:
    ui = FakeUI()
    task, browser = await login(config, ui)
    redirect = await browser.authorize()
    response = await browser.open(redirect)
    assert (response.status_code, response.headers["location"]) == (302, "/success")
    page = await browser.open(f"http://127.0.0.1:{browser.port}/success")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    saved = await task

    query = parse_qs(urlsplit(ui.urls[0]).query)
    assert urlsplit(ui.urls[0]).path == "/oauth/authorize"
    assert set(query) == {"client_id", "code_challenge", "code_challenge_method", "codex_cli_simplified_flow",
                          "id_token_add_organizations", "prompt", "redirect_uri", "response_type", "scope",
                          "state"}
    assert query["redirect_uri"] == ["http://localhost:1455/auth/callback"]
    assert query["scope"] == ["openid email profile offline_access"]
    assert re.fullmatch(r"[0-9a-f]{32}", query["state"][0])
    exchange = issuer.grants("authorization_code")[0]
    assert exchange.content_type.startswith("application/x-www-form-urlencoded")
    assert exchange.body["client_id"] == CLIENT_ID
    assert exchange.body["redirect_uri"] == "http://localhost:1455/auth/callback"
    assert challenge_for(exchange.body["code_verifier"]) == query["code_challenge"][0]

    assert saved.name == FILE and saved.email == "u@example.com" and saved.plan == "plus"
    record = FileStore(accounts_dir).read(FILE)
    assert record is not None
    assert {"type", "email", "account_id", "id_token", "access_token", "refresh_token", "expired",
            "last_refresh", "disabled"} <= set(record)
    assert record["disabled"] is False and record["account_id"] == "acct_1"
    assert parse_time(record["expired"]) == pytest.approx(time.time() + 864000, abs=60)
    assert stat.S_IMODE((accounts_dir / FILE).stat().st_mode) == 0o600


async def test_stray_callbacks_do_not_end_the_login(config: Config, issuer: FakeIssuer) -> None:
    # as Codex CLI does: wrong state → 400 and keep waiting; the valid one decides
    ui = FakeUI()
    task, browser = await login(config, ui)
    stray = await browser.callback(state="f" * 32)
    assert stray.status_code == 400 and not issuer.grants("authorization_code")
    valid = await browser.callback()
    assert valid.status_code == 302
    assert (await task).email == "u@example.com"


async def test_oauth_error_callback_fails_the_login_and_writes_nothing(config: Config, issuer: FakeIssuer,
                                                                        accounts_dir: Path) -> None:
    # first valid-state callback wins, even an error
    ui = FakeUI()
    task, browser = await login(config, ui)
    denied = await browser.callback(error="access_denied", error_description="nope")
    assert denied.status_code == 400
    with pytest.raises(OAuthError) as caught:
        await task
    assert caught.value.error == "access_denied" and caught.value.friendly == "Authentication was cancelled or denied."
    assert not issuer.grants("authorization_code") and not list(accounts_dir.glob("*.json"))


async def test_callback_timeout(config: Config, accounts_dir: Path) -> None:
    task, _browser = await login(config, FakeUI(), timeout=0.3)
    with pytest.raises(AuthenticationError) as caught:
        await task
    assert caught.value.kind == "callback_timeout"
    assert caught.value.friendly == "Authentication timed out. Please try again."
    assert not list(accounts_dir.glob("*.json"))


async def test_busy_port_fails_before_any_issuer_traffic(config: Config, issuer: FakeIssuer) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    ctx = LoginContext.from_config(config, httpx.AsyncClient())
    try:
        with pytest.raises(AuthenticationError) as caught:
            await run_browser_login(ctx, FakeUI(), BrowserOptions(port=holder.getsockname()[1]))
    finally:
        holder.close()
        await ctx.http.aclose()
    assert caught.value.kind == "port_in_use" and caught.value.code == 13
    assert issuer.requests == []


def _hold_1455() -> socket.socket | None:
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 1455))
    except OSError:
        holder.close()
        return None
    holder.listen()
    return holder


async def test_fallback_port_moves_listen_and_redirect_to_1457(config: Config, issuer: FakeIssuer) -> None:
    holder = _hold_1455()
    if holder is None:
        pytest.skip("port 1455 is in use on this machine")
    ui = FakeUI()
    ctx = LoginContext.from_config(config, httpx.AsyncClient())
    task = asyncio.create_task(run_browser_login(ctx, ui, BrowserOptions(fallback_port=True, timeout=0.5)))
    try:
        await asyncio.wait_for(ui.url_shown.wait(), 5)
        assert parse_qs(urlsplit(ui.urls[0]).query)["redirect_uri"] == ["http://localhost:1457/auth/callback"]
    finally:
        with pytest.raises(AuthError):
            await task
        holder.close()
        await ctx.http.aclose()


async def test_exchange_failure_shows_on_the_page_and_writes_nothing(config: Config, issuer: FakeIssuer,
                                                                      accounts_dir: Path) -> None:
    issuer.token_replies.append(Scripted(400, {"error": "invalid_grant", "error_description": "bad code"}))
    ui = FakeUI()
    task, browser = await login(config, ui)
    page = await browser.callback()
    assert page.status_code == 400 and "Sign-in failed" in page.text
    with pytest.raises(AuthenticationError) as caught:
        await task
    assert caught.value.kind == "code_exchange_failed" and "status 400" in str(caught.value)
    assert not list(accounts_dir.glob("*.json"))


async def test_tokens_without_email_write_no_file(config: Config, issuer: FakeIssuer, accounts_dir: Path) -> None:
    issuer.identity = Identity(email="")
    task, browser = await login(config, FakeUI())
    await browser.callback()
    with pytest.raises(AccountInfoError):
        await task
    assert not list(accounts_dir.glob("*.json"))


async def test_no_browser_mode_takes_the_pasted_url(config: Config, issuer: FakeIssuer) -> None:
    # no local callback; the pasted redirect is exchanged
    ui = FakeUI()
    task, browser = await login(config, ui, no_browser=True)
    ui.inputs.put_nowait("")  # an empty line keeps waiting, and prompts again
    ui.inputs.put_nowait(await browser.authorize())
    saved = await asyncio.wait_for(task, 5)
    assert saved.email == "u@example.com" and len(ui.prompts) == 2
    assert ui.opened == [] and f"ssh -L 1455:127.0.0.1:{browser.port} " in ui.text


async def test_without_a_browser_the_paste_prompt_comes_at_once(config: Config, issuer: FakeIssuer) -> None:
    # no launcher (a server over SSH): act as --no-browser instead of waiting 15 s
    ui = FakeUI(browser=False)
    task, browser = await login(config, ui)
    ui.inputs.put_nowait(await browser.authorize())
    assert (await asyncio.wait_for(task, 5)).email == "u@example.com"
    assert len(ui.opened) == 1 and "ssh -L" in ui.text


async def test_pasted_garbage_ends_the_login(config: Config, issuer: FakeIssuer) -> None:
    ui = FakeUI()
    task, _browser = await login(config, ui, no_browser=True)
    ui.inputs.put_nowait("garbage")
    with pytest.raises(AuthError, match="invalid callback URL"):
        await asyncio.wait_for(task, 5)
    assert not issuer.on("/oauth/token")


async def test_empty_paste_keeps_waiting_for_the_browser(config: Config, issuer: FakeIssuer) -> None:
    # with a browser, one prompt after the delay; Enter resumes waiting
    ui = FakeUI()
    task, browser = await login(config, ui, paste_delay=0.05)
    ui.inputs.put_nowait("")
    await asyncio.sleep(0.2)
    assert (await browser.callback()).status_code == 302
    await asyncio.wait_for(task, 5)
    assert len(ui.prompts) == 1


async def test_relogin_updates_the_same_file_and_keeps_custom_fields(config: Config, issuer: FakeIssuer,
                                                                      store: FileStore) -> None:
    # the existing file (any name) of the same account is updated in place
    name, old = seed_account(issuer, store, priority=5, proxy_url="socks5://p", headers={"X": "1"},
                             disabled=True)
    task, browser = await login(config, FakeUI())
    await browser.callback()
    saved = await task
    record = store.read(name)
    assert saved.name == name and saved.replaced and saved.disabled and record is not None
    assert record["refresh_token"] != old["refresh_token"]
    assert (record["priority"], record["proxy_url"], record["headers"], record["disabled"]) == \
        (5, "socks5://p", {"X": "1"}, True)
    assert store.names() == [name]


@pytest.mark.parametrize("status", [200, 500])
async def test_api_key_exchange_is_best_effort(config: Config, issuer: FakeIssuer, store: FileStore,
                                               status: int) -> None:
    issuer.exchange_status = status
    ui = FakeUI()
    port = free_port()
    async with httpx.AsyncClient() as http:
        ctx = LoginContext.from_config(config, http, exchange_api_key=True)
        task = asyncio.create_task(run_browser_login(ctx, ui, BrowserOptions(port=port)))
        await Browser(ui, port).callback()
        saved = await task
    exchange = issuer.grants("urn:ietf:params:oauth:grant-type:token-exchange")[0]
    assert exchange.body["requested_token"] == "openai-api-key"
    assert exchange.body["subject_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    assert exchange.body["subject_token"] in issuer.secrets
    record = store.read(saved.name)
    assert record is not None
    assert saved.api_key is (status == 200) and bool(record.get("OPENAI_API_KEY")) is (status == 200)
