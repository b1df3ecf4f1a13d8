"""Login end to end: the browser flow (PKCE, callback server, pasted URL), the device flow, and the
import of a Codex CLI login. Each ends in one saved account record.

The terminal is behind :class:`LoginUI`, so the same flows run under the CLI, under tests, and (for
the pieces :class:`BrowserLogin` and :func:`save_tokens`) under the management API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from cliproxy.auth.callback import CallbackServer, check_pasted, parse_callback_input
from cliproxy.auth.claims import read_claims
from cliproxy.auth.device import DEVICE_TIMEOUT, DeviceCode, Sleep, poll_device_token, request_device_code
from cliproxy.auth.errors import AuthenticationError, AuthError
from cliproxy.auth.oauth import (
    DEFAULT_CALLBACK_PORT,
    FALLBACK_CALLBACK_PORT,
    Endpoints,
    TokenBundle,
    authorize_url,
    exchange_api_key,
    exchange_code,
    redirect_uri_for,
)
from cliproxy.auth.pkce import PkcePair, generate_state
from cliproxy.auth.record import (
    API_KEY_FIELD,
    ImportRefused,
    account_filename,
    merge_relogin,
    record_from_codex_auth,
    record_from_tokens,
)
from cliproxy.auth.store import CredentialStore
from cliproxy.auth.stores import credential_store
from cliproxy.config.schema import Config
from cliproxy.upstream.egress import chosen_proxy, new_client

CALLBACK_TIMEOUT = 300.0  # CPA waits 5 minutes for the browser
PASTE_PROMPT_DELAY = 15.0
_SUCCESS_PAGE_GRACE = 2.0


class LoginUI(Protocol):
    """What a login shows the user and reads back."""

    def say(self, text: str) -> None: ...

    def show_url(self, url: str) -> None:
        """Print a URL whole, never wrapped, so it can be copied."""
        ...

    def open_browser(self, url: str) -> bool: ...

    def waiting(self, text: str | None) -> None:
        """Show (or update) a spinner line with a timer; None removes it."""
        ...

    def prompt(self, text: str) -> None:
        """Print a prompt for one line of input (the spinner is stopped first)."""
        ...

    async def read_line(self) -> str | None:
        """The next line typed, or None at end of input."""
        ...


@dataclass(frozen=True)
class SavedAccount:
    """The outcome of a login or import, for the closing message."""

    name: str
    location: str
    email: str
    plan: str
    account_id: str
    disabled: bool = False
    replaced: bool = False
    api_key: bool = False


@dataclass
class LoginContext:
    endpoints: Endpoints
    store: CredentialStore
    http: httpx.AsyncClient
    exchange_api_key: bool = False
    clock: Callable[[], float] = time.time

    @classmethod
    def from_config(cls, config: Config, http: httpx.AsyncClient, **options: Any) -> LoginContext:
        return cls(endpoints=Endpoints(config.oauth_issuer), store=credential_store(config), http=http,
                   **options)


def issuer_client(config: Config, proxy_url: str = "") -> httpx.AsyncClient:
    """A client toward the issuer that leaves as the account's requests do: through ``proxy_url``
    (an account's own), else the config's ``proxy-url``, with the configured trust."""
    return new_client(chosen_proxy(proxy_url, config.proxy_url), config.upstream)


# ---- saving -----------------------------------------------------------------------------------

def find_account(store: CredentialStore, email: str, account_id: str) -> str | None:
    """The name of an existing record of the same account (same email and workspace), if any, so a
    re-login updates it in place whatever naming rule created it."""
    for name in store.names():
        record = store.read(name)
        if record is None:
            continue
        if str(record.get("email") or "") == email and str(record.get("account_id") or "") == account_id:
            return name
    return None


def _target(store: CredentialStore, record: dict[str, Any]) -> tuple[str, str]:
    """(file name, plan): the existing file of this account, else a new name."""
    email, account_id = str(record["email"]), str(record.get("account_id") or "")
    plan = read_claims(str(record.get("id_token") or ""), str(record.get("access_token") or "")).plan
    return find_account(store, email, account_id) or account_filename(email, plan, account_id), plan


def _persist(store: CredentialStore, name: str, plan: str, record: dict[str, Any]) -> SavedAccount:
    """Merge with the existing record (keeping the user's keys) and write; call under the lock of
    ``name`` — the same lock refresh takes, so a login never races a refresh of the same file."""
    old = store.read(name)
    merged = merge_relogin(old, record)
    store.write(name, merged)
    return SavedAccount(name=name, location=store.location(name), email=str(record["email"]), plan=plan,
                        account_id=str(record.get("account_id") or ""),
                        disabled=merged.get("disabled") is True, replaced=old is not None,
                        api_key=bool(merged.get(API_KEY_FIELD)))


async def save_tokens(ctx: LoginContext, bundle: TokenBundle) -> SavedAccount:
    """Build the record from fresh tokens (optionally adding an API key) and persist it."""
    record = record_from_tokens(bundle, ctx.clock())
    if ctx.exchange_api_key and (key := await exchange_api_key(ctx.http, ctx.endpoints, bundle.id_token)):
        record[API_KEY_FIELD] = key
    # in a thread: a shared store (Redis) answers over the network, and the server's loop must not wait
    name, plan = await asyncio.to_thread(_target, ctx.store, record)
    async with ctx.store.alock(name):
        return await asyncio.to_thread(_persist, ctx.store, name, plan, record)


# ---- browser flow -----------------------------------------------------------------------------

@dataclass(frozen=True)
class BrowserOptions:
    no_browser: bool = False
    host: str = "127.0.0.1"
    port: int = DEFAULT_CALLBACK_PORT  # where the callback server listens
    redirect_port: int = DEFAULT_CALLBACK_PORT  # what the redirect_uri says; a tunnel may map it to port
    fallback_port: bool = False  # on a busy 1455, try Codex's 1457 for both
    timeout: float = CALLBACK_TIMEOUT
    paste_delay: float = PASTE_PROMPT_DELAY


class BrowserLogin:
    """One login attempt: its state, PKCE pair and URL. The first code to arrive (callback or paste)
    is exchanged exactly once; everyone asking later gets the same outcome."""

    def __init__(self, ctx: LoginContext, redirect_uri: str) -> None:
        self._ctx = ctx
        self.state = generate_state()
        self.pkce = PkcePair.generate()
        self.redirect_uri = self.url = ""
        self.use_redirect(redirect_uri)
        self.outcome: asyncio.Future[SavedAccount] = asyncio.get_running_loop().create_future()
        self._exchange: asyncio.Task[SavedAccount] | None = None

    def use_redirect(self, redirect_uri: str) -> None:
        """Set the redirect URI (and so the URL); the code exchange must send the same one."""
        self.redirect_uri = redirect_uri
        self.url = authorize_url(self._ctx.endpoints, challenge=self.pkce.challenge, state=self.state,
                                 redirect_uri=redirect_uri)

    async def finish(self, code: str) -> SavedAccount:
        if self._exchange is None:
            self._exchange = asyncio.ensure_future(self._exchange_and_save(code))
            self._exchange.add_done_callback(self._settle)
        return await asyncio.shield(self._exchange)

    @property
    def exchanging(self) -> bool:
        return self._exchange is not None

    def fail(self, error: AuthError) -> None:
        """End the attempt with ``error`` unless a code is already being exchanged."""
        if self._exchange is None and not self.outcome.done():
            self.outcome.set_exception(error)

    async def _exchange_and_save(self, code: str) -> SavedAccount:
        bundle = await exchange_code(self._ctx.http, self._ctx.endpoints, code=code,
                                     verifier=self.pkce.verifier, redirect_uri=self.redirect_uri)
        return await save_tokens(self._ctx, bundle)

    def _settle(self, task: asyncio.Task[SavedAccount]) -> None:
        if self.outcome.done():
            return
        if task.cancelled():
            self.outcome.cancel()
        elif (error := task.exception()) is not None:
            self.outcome.set_exception(error)
        else:
            self.outcome.set_result(task.result())


async def _start_server(attempt: BrowserLogin, options: BrowserOptions) -> CallbackServer:
    """Bind the callback server; with ``fallback_port``, a busy 1455 moves listen port and
    redirect URI to 1457, as Codex does."""
    ports = [options.port]
    if options.fallback_port and options.port == DEFAULT_CALLBACK_PORT:
        ports.append(FALLBACK_CALLBACK_PORT)
    for port in ports:
        server = CallbackServer(state=attempt.state, on_code=attempt.finish, on_error=attempt.fail,
                                host=options.host, port=port)
        try:
            await server.start()
        except AuthenticationError as exc:
            if exc.kind != "port_in_use" or port == ports[-1]:
                raise
            continue
        if port == FALLBACK_CALLBACK_PORT and port != options.port:
            attempt.use_redirect(redirect_uri_for(FALLBACK_CALLBACK_PORT))
        return server
    raise AssertionError("unreachable")


class _Waiter:
    """The spinner line with a countdown, paused while the user is typing."""

    def __init__(self, ui: LoginUI, text: str, deadline: float) -> None:
        self.ui, self.text, self.deadline, self.paused = ui, text, deadline, False

    async def run(self) -> None:
        try:
            while True:
                if not self.paused:
                    left = max(0, int(self.deadline - time.monotonic()))
                    self.ui.waiting(f"{self.text} ({left // 60}:{left % 60:02d} left)")
                await asyncio.sleep(1.0)
        finally:
            self.ui.waiting(None)


async def _paste_loop(attempt: BrowserLogin, ui: LoginUI, waiter: _Waiter | None, *, delay: float,
                      repeat: bool) -> None:
    """Offer to paste the redirect URL. Bad input ends the login; an empty line keeps
    waiting (prompting again only when there is no browser to wait for)."""
    await asyncio.sleep(delay)
    while True:
        if waiter is not None:
            waiter.paused = True
            ui.waiting(None)
        ui.prompt("Paste the redirect URL (or the code), or press Enter to keep waiting: ")
        line = await ui.read_line()
        if waiter is not None:
            waiter.paused = False
        if line is None:
            return
        try:
            params = parse_callback_input(line)
            if params is None:
                if repeat:
                    continue
                return
            code = check_pasted(params, attempt.state)
        except AuthError as exc:
            attempt.fail(exc)
            return
        with contextlib.suppress(AuthError):
            await attempt.finish(code)
        return


def _show_instructions(ui: LoginUI, url: str, redirect_uri: str, options: BrowserOptions, port: int) -> bool:
    """Open the browser (or not) and print the URL; returns True when no local browser was opened,
    in which case the user is told to paste the redirect URL."""
    opened = not options.no_browser and ui.open_browser(url)
    if opened:
        ui.say("Opened your browser to sign in to ChatGPT. If it did not open, use this URL:")
    else:
        ui.say("Open this URL in a browser (on any machine) and sign in to ChatGPT:")
    ui.show_url(url)
    if not opened:
        browser_port = urlsplit(redirect_uri).port or port
        ui.say(f"The browser is then sent to {redirect_uri}?code=… . If that page does not load (the "
               "browser runs on another machine), copy the full address from the address bar and paste "
               f"it here. Or forward the port first: ssh -L {browser_port}:127.0.0.1:{port} <this host>")
    return not opened


async def run_browser_login(ctx: LoginContext, ui: LoginUI, options: BrowserOptions) -> SavedAccount:
    """The browser login with PKCE: server up, URL out, wait for callback or paste, save."""
    attempt = BrowserLogin(ctx, redirect_uri_for(options.redirect_port))
    server = await _start_server(attempt, options)
    tasks: list[asyncio.Task[None]] = []
    try:
        headless = _show_instructions(ui, attempt.url, attempt.redirect_uri, options, server.port)
        waiter = None
        if not headless:
            waiter = _Waiter(ui, "Waiting for the browser sign-in", time.monotonic() + options.timeout)
            tasks.append(asyncio.create_task(waiter.run()))
        delay = 0.0 if headless else options.paste_delay
        tasks.append(asyncio.create_task(_paste_loop(attempt, ui, waiter, delay=delay, repeat=headless)))
        try:
            saved = await asyncio.wait_for(asyncio.shield(attempt.outcome), options.timeout)
        except TimeoutError:
            if not attempt.exchanging:
                raise AuthenticationError("callback_timeout", "timeout waiting for OAuth callback") from None
            saved = await attempt.outcome  # a code arrived in time: let its exchange finish
        if server.code_received:  # let the browser fetch /success before we go
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.success_served.wait(), _SUCCESS_PAGE_GRACE)
        return saved
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()


# ---- device flow ------------------------------------------------------------------------------

async def run_device_login(ctx: LoginContext, ui: LoginUI, *, no_browser: bool = False,
                           timeout: float = DEVICE_TIMEOUT, sleep: Sleep = asyncio.sleep) -> SavedAccount:
    """The device-code flow, with Codex's phishing warning."""
    code = await request_device_code(ctx.http, ctx.endpoints)
    ui.say("Sign in on any device with a browser:")
    ui.say(f"  1. Open   {code.verification_url}")
    ui.say(f"  2. Enter  {code.user_code}")
    ui.say(f"The code expires in {int(timeout // 60)} minutes. Never share it: anyone who has it can "
           "sign in as you.")
    if not no_browser:
        ui.open_browser(code.verification_url)
    waiter = _Waiter(ui, "Waiting for approval", time.monotonic() + timeout)
    ticker = asyncio.create_task(waiter.run())
    try:
        return await finish_device_login(ctx, code, timeout=timeout, sleep=sleep)
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)


async def finish_device_login(ctx: LoginContext, code: DeviceCode, *, timeout: float = DEVICE_TIMEOUT,
                              sleep: Sleep = asyncio.sleep) -> SavedAccount:
    """Wait for the user to approve ``code``, then exchange and save: the half of the device flow
    that needs no terminal, shared with the management API."""
    grant = await poll_device_token(ctx.http, ctx.endpoints, code, timeout=timeout, sleep=sleep)
    bundle = await exchange_code(ctx.http, ctx.endpoints, code=grant.authorization_code,
                                 verifier=grant.code_verifier, redirect_uri=ctx.endpoints.device_redirect)
    return await save_tokens(ctx, bundle)


# ---- Codex CLI import ---------------------------------------------------------------------------

def default_codex_auth_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(os.path.expanduser(env.get("CODEX_HOME") or "~/.codex")) / "auth.json"


def import_codex_auth(store: CredentialStore, path: Path, now: float | None = None) -> SavedAccount:
    """Copy a Codex CLI ChatGPT login into the store; raises ImportRefused with the reason."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportRefused(
            f"no Codex login file at {path}. If Codex CLI keeps its login in the OS keyring, set "
            '`cli_auth_credentials_store = "file"` in its config.toml and run `codex login` again.'
        ) from None
    except OSError as exc:
        raise ImportRefused(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ImportRefused(f"{path} is not valid JSON") from None
    record = record_from_codex_auth(data, time.time() if now is None else now)
    name, plan = _target(store, record)
    with store.lock(name):
        return _persist(store, name, plan, record)


__all__ = [
    "BrowserLogin",
    "BrowserOptions",
    "LoginContext",
    "LoginUI",
    "SavedAccount",
    "default_codex_auth_path",
    "find_account",
    "finish_device_login",
    "import_codex_auth",
    "run_browser_login",
    "run_device_login",
    "save_tokens",
]
