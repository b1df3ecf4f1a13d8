"""The account commands of the CLI: ``login``, ``import-codex`` and ``accounts``.

``register(app)`` adds them to the main click group (cli.py). Commands are thin: they load the
config, run a flow from ``login``/``refresh``/``accounts`` and print the outcome; all logic lives
in those modules. Exit codes: 0 ok, 1 failed, 2 bad config, 13 callback port busy, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import threading
import time
import webbrowser
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import httpx
import orjson

from cliproxy.auth.accounts import (
    AccountNotFound,
    AccountSummary,
    list_accounts,
    relative,
    resolve,
    short_error,
)
from cliproxy.auth.credentials import credential_from_record
from cliproxy.auth.errors import PORT_IN_USE_EXIT_CODE, AuthenticationError, AuthError
from cliproxy.auth.login import (
    BrowserOptions,
    LoginContext,
    SavedAccount,
    default_codex_auth_path,
    import_codex_auth,
    run_browser_login,
    run_device_login,
)
from cliproxy.auth.oauth import DEFAULT_CALLBACK_PORT, Endpoints, revoke
from cliproxy.auth.record import ImportRefused
from cliproxy.auth.refresh import Refresher, RefreshFailed, display
from cliproxy.auth.store import FileStore, StoreError
from cliproxy.cli.options import Command, Group, config_option, load_cli_config
from cliproxy.cli.terminal import err, out
from cliproxy.config.schema import Config
from cliproxy.observe.logs import mask, setup_logging

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status
    from rich.table import Table

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
name_argument = click.argument("name")  # help in the command's own docstring: click arguments take none


# ---- shared plumbing ----------------------------------------------------------------------------

def _config(explicit: str | None) -> Config:
    config = load_cli_config(explicit)[0]
    setup_logging(config.debug)
    if not config.debug:
        logging.getLogger().setLevel(logging.WARNING)
    return config


def _run(coroutine: Awaitable[T]) -> T:
    async def runner() -> T:
        return await coroutine

    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:
        err().print("Interrupted.")
        raise click.exceptions.Exit(130) from None


def _fail(message: str, code: int = 1) -> click.exceptions.Exit:
    err().print(message, markup=False)
    return click.exceptions.Exit(code)


# ---- the terminal side of a login -------------------------------------------------------------

_LINUX_LAUNCHERS = ("xdg-open", "x-www-browser", "www-browser", "firefox", "chromium", "google-chrome")


def _has_browser() -> bool:
    """A graphical browser we can start (auth.md §1.6); a Linux box without a display has none."""
    if os.environ.get("BROWSER"):
        return True
    if sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return False
        return any(shutil.which(name) for name in _LINUX_LAUNCHERS)
    return True


class ConsoleUI:
    """LoginUI on the terminal: rich spinner with a timer on a TTY, plain lines otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None
        self._lines: asyncio.Queue[str | None] | None = None

    def say(self, text: str) -> None:
        self.console.print(text, markup=False)

    def show_url(self, url: str) -> None:
        self.console.print()
        self.console.print(f"  {url}", markup=False, overflow="ignore", crop=False)
        self.console.print()

    def open_browser(self, url: str) -> bool:
        if not _has_browser():
            return False
        try:
            return webbrowser.open(url)
        except webbrowser.Error:
            return False

    def waiting(self, text: str | None) -> None:
        if not self.console.is_terminal:
            return
        if text is None:
            if self._status is not None:
                self._status.stop()
                self._status = None
        elif self._status is None:
            self._status = self.console.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def prompt(self, text: str) -> None:
        self.waiting(None)
        self.console.print(text, end="", markup=False)
        self.console.file.flush()

    async def read_line(self) -> str | None:
        if self._lines is None:
            self._lines = asyncio.Queue()
            _start_stdin_reader(asyncio.get_running_loop(), self._lines)
        return await self._lines.get()


def _start_stdin_reader(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Read stdin lines in a daemon thread. Raw ``os.read`` rather than ``sys.stdin``, so a thread
    still blocked at exit holds no interpreter lock (no fatal error at shutdown)."""

    def post(line: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the login is over
            loop.call_soon_threadsafe(lines.put_nowait, line)

    def read() -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(0, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                if buffer:
                    post(buffer.decode(errors="replace"))
                post(None)
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                post(line.decode(errors="replace").rstrip("\r"))

    threading.Thread(target=read, name="stdin-reader", daemon=True).start()


def _report_saved(saved: SavedAccount, wanted_api_key: bool) -> None:
    plan = f" ({saved.plan} plan)" if saved.plan else ""
    out().print(f"Signed in as {saved.email}{plan}.", markup=False)
    verb = "Updated" if saved.replaced else "Saved"
    out().print(f"{verb} account file: {saved.location}", markup=False)
    if saved.replaced:
        out().print("Your own settings in that file (label, priority, headers...) were kept.")
    if saved.disabled:
        out().print(f"Note: this account is disabled in its file; run `cliproxy accounts enable "
                    f"{saved.email}` to use it.", markup=False)
    if wanted_api_key:
        out().print("An OpenAI Platform API key was stored with the account (never used for ChatGPT "
                    "requests; it bills per use)." if saved.api_key else
                    "No API key could be obtained; the login itself succeeded.")
    out().print("Run `cliproxy serve` to use it, or `cliproxy accounts` to see all accounts.")


def _login_failed(exc: AuthError) -> click.exceptions.Exit:
    detail = str(exc)
    message = f"Login failed: {exc.friendly}"
    if detail and detail not in message:
        message += f"\n  detail: {detail}"
    code = PORT_IN_USE_EXIT_CODE if isinstance(exc, AuthenticationError) and exc.kind == "port_in_use" else 1
    return _fail(message, code)


# ---- login ------------------------------------------------------------------------------------

@click.command("login", cls=Command)
@click.option("--no-browser", is_flag=True, help="Do not open a browser: print the URL and accept the pasted "
              "redirect URL (SSH, containers).")
@click.option("--device", is_flag=True, help="Sign in with a code on another device instead of a local browser.")
@click.option("--callback-port", type=int, default=DEFAULT_CALLBACK_PORT, show_default=True,
              help="Port the local callback server listens on.")
@click.option("--redirect-port", type=int, default=DEFAULT_CALLBACK_PORT, show_default=True,
              help="Port named in the redirect URI (keep 1455 unless a tunnel maps it).")
@click.option("--callback-host", default="127.0.0.1", show_default=True,
              help="Address the callback server binds (0.0.0.0 in containers).")
@click.option("--fallback-port", is_flag=True, help="If port 1455 is busy, use 1457 (as Codex CLI does).")
@click.option("--exchange-api-key", is_flag=True,
              help="Also obtain an OpenAI Platform API key (optional, billed per use).")
@config_option
def login(no_browser: bool, device: bool, callback_port: int, redirect_port: int, callback_host: str,
          fallback_port: bool, exchange_api_key: bool, config: str | None) -> None:
    """Sign in to a ChatGPT account and save it for the proxy."""
    loaded = _config(config)
    ui = ConsoleUI(out())
    options = BrowserOptions(no_browser=no_browser, host=callback_host, port=callback_port,
                             redirect_port=redirect_port, fallback_port=fallback_port)

    async def flow() -> SavedAccount:
        async with httpx.AsyncClient(proxy=loaded.proxy_url or None) as http:
            ctx = LoginContext.from_config(loaded, http, exchange_api_key=exchange_api_key)
            if device:
                return await run_device_login(ctx, ui, no_browser=no_browser)
            return await run_browser_login(ctx, ui, options)

    try:
        saved = _run(flow())
    except AuthError as exc:
        raise _login_failed(exc) from None
    except StoreError as exc:
        raise _fail(f"Login failed: {exc}") from None
    _report_saved(saved, exchange_api_key)


# ---- import-codex -----------------------------------------------------------------------------

SHARING_WARNING = (
    "Warning: Codex CLI and cliproxy now share one refresh token. Refresh tokens are single-use, so "
    "whichever program refreshes second is signed out (refresh_token_reused), and `codex logout` "
    "revokes the token for both. For a login that lasts, give cliproxy its own: `cliproxy login`."
)


@click.command("import-codex", cls=Command)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@config_option
def import_codex(path: Path | None, config: str | None) -> None:
    """Import the ChatGPT login of Codex CLI (auth.json).

    PATH is the Codex auth file (default $CODEX_HOME/auth.json, else ~/.codex/auth.json).
    """
    loaded = _config(config)
    source = path or default_codex_auth_path()
    try:
        saved = import_codex_auth(FileStore(loaded.auth_path), source.expanduser())
    except ImportRefused as exc:
        raise _fail(f"Import failed: {exc}") from None
    except (AuthError, StoreError) as exc:
        raise _fail(f"Import failed: {exc}") from None
    plan = f" ({saved.plan} plan)" if saved.plan else ""
    out().print(f"Imported {saved.email}{plan} from {source}.", markup=False)
    out().print(f"{'Updated' if saved.replaced else 'Saved'} account file: {saved.location}", markup=False)
    err().print(SHARING_WARNING, markup=False, style="yellow")


# ---- accounts ---------------------------------------------------------------------------------

def _table(accounts: list[AccountSummary], now: float) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title=f"{len(accounts)} account(s)", title_justify="left")
    names = [a.email + (f" ({a.label})" if a.label else "") for a in accounts]
    table.add_column("Account", min_width=min(40, max(len(n) for n in names)), overflow="fold")
    for column in ("Plan", "Status", "Expires", "Refreshed", "Account ID"):
        table.add_column(column, no_wrap=True)
    styles = {"active": "green", "expired": "yellow", "disabled": "dim", "needs login": "bold red",
              "no refresh token": "yellow"}
    for account, name in zip(accounts, names, strict=True):
        row = [name, account.plan or "-", f"[{styles.get(account.status, '')}]{account.status}[/]",
               relative(account.expires_at, now), relative(account.last_refresh_at, now),
               account.account_id or "-"]
        table.add_row(*row)
    return table


def _list(explicit_config: str | None, as_json: bool) -> None:
    loaded = _config(explicit_config)
    now = time.time()
    accounts = list_accounts(FileStore(loaded.auth_path), now)
    if as_json:
        click.echo(orjson.dumps([a.as_json() for a in accounts], option=orjson.OPT_INDENT_2).decode())
        return
    if not accounts:
        out().print(f"No accounts in {loaded.auth_path}. Run `cliproxy login` (or `cliproxy login --device`) "
                    "to add one.", markup=False)
        return
    out().print(_table(accounts, now))
    for account in accounts:
        if account.status == "needs login":  # the last error, in full, where it matters
            out().print(f"{account.email} needs a new login ({short_error(account)}): {account.last_error}. "
                        "Run `cliproxy login` to sign in again.", markup=False)
    out().print(f"Account files: {loaded.auth_path}", markup=False)


@click.group("accounts", cls=Group, invoke_without_command=True,
             help="List and manage the signed-in accounts.")
@json_option
@config_option
@click.pass_context
def accounts(ctx: click.Context, as_json: bool, config: str | None) -> None:
    """List and manage the signed-in accounts (alone: the same as `accounts list`)."""
    if ctx.invoked_subcommand is None:
        _list(config, as_json)


@accounts.command("list")
@json_option
@config_option
def list_command(as_json: bool, config: str | None) -> None:
    """Show every account: email, plan, status, expiry, last refresh, last error."""
    _list(config, as_json)


def _locate(loaded: Config, name: str) -> tuple[FileStore, str]:
    store = FileStore(loaded.auth_path)
    try:
        return store, resolve(store, name)
    except AccountNotFound as exc:
        raise _fail(str(exc)) from None


def _edit(loaded: Config, name: str, change: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any]]:
    store, found = _locate(loaded, name)
    with store.lock(found):
        record = store.read(found)
        if record is None:
            raise _fail(f"account file {found} is gone")
        change(record)
        store.write(found, record)
    return found, record


@accounts.command("disable")
@name_argument
@config_option
def disable(name: str, config: str | None) -> None:
    """Stop using an account (it is still refreshed, so it works when enabled again).

    NAME is the file name, email or label of the account.
    """
    found, record = _edit(_config(config), name, lambda record: record.update(disabled=True))
    out().print(f"Disabled {record.get('email') or found}.", markup=False)


@accounts.command("enable")
@name_argument
@config_option
def enable(name: str, config: str | None) -> None:
    """Use an account again; also clears a 'needs login' mark so the next refresh is attempted.

    NAME is the file name, email or label of the account.
    """
    def change(record: dict[str, Any]) -> None:
        record["disabled"] = False
        record.pop("auth_error", None)

    found, record = _edit(_config(config), name, change)
    out().print(f"Enabled {record.get('email') or found}.", markup=False)


@accounts.command("remove")
@name_argument
@click.option("--no-revoke", is_flag=True, help="Do not revoke the token at the issuer.")
@config_option
def remove(name: str, no_revoke: bool, config: str | None) -> None:
    """Delete an account file, revoking its token first (best effort).

    NAME is the file name, email or label of the account.
    """
    loaded = _config(config)
    store, found = _locate(loaded, name)

    async def revoke_tokens(record: dict[str, Any]) -> bool:
        async with httpx.AsyncClient(proxy=loaded.proxy_url or None) as http:
            return await revoke(http, Endpoints(loaded.oauth_issuer),
                                refresh_token=str(record.get("refresh_token") or ""),
                                access_token=str(record.get("access_token") or ""))

    with store.lock(found):
        record = store.read(found) or {}
        revoked = False if no_revoke or not record else _run(revoke_tokens(record))
        store.remove(found)
    note = " Its token was revoked." if revoked else ("" if no_revoke else " (Revoking its token failed; "
                                                       "the file is removed anyway.)")
    out().print(f"Removed {record.get('email') or found} ({found}).{note}", markup=False)


@accounts.command("refresh")
@name_argument
@config_option
def refresh(name: str, config: str | None) -> None:
    """Refresh an account's token now.

    NAME is the file name, email or label of the account.
    """
    loaded = _config(config)
    store, found = _locate(loaded, name)
    record = store.read(found)
    if record is None:
        raise _fail(f"account file {found} is gone")
    credential = credential_from_record(record, found, loaded.codex_base_url, store.path(found))

    async def run() -> Any:
        refresher = Refresher(loaded, None, store=store)
        try:
            return await refresher.refresh(credential, force=True)
        finally:
            await refresher.aclose()

    try:
        fresh = _run(run())
    except RefreshFailed as exc:
        raise _fail(exc.message) from None
    until = relative(fresh.expires_at, time.time()) if fresh.expires_at else "unknown"
    out().print(f"Refreshed {display(fresh)}: the new token expires {until}.", markup=False)


# ---- wiring -----------------------------------------------------------------------------------

def register(app: click.Group) -> None:
    """Add ``login``, ``import-codex`` and ``accounts`` to the main CLI group."""
    for command in (login, import_codex, accounts):
        app.add_command(command)


def standalone_app() -> click.Group:
    """These commands alone (``python -m cliproxy.cli.accounts``), for tests before cli.py wires them."""
    app = Group(no_args_is_help=True)
    register(app)
    return app


__all__ = ["ConsoleUI", "mask", "register", "standalone_app"]

if __name__ == "__main__":
    standalone_app()()
