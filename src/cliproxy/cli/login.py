"""The commands that add an account: ``login`` (browser or device code) and ``import-codex``.

Commands are thin: they load the config, run a flow from ``auth.login`` and print the outcome.
``ConsoleUI`` is the terminal side of a login flow: the URL to open, a spinner while waiting, the
pasted redirect URL. Exit codes: 0 ok, 1 failed, 2 bad config, 13 callback port busy, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import threading
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cliproxy.auth.errors import PORT_IN_USE_EXIT_CODE, AuthenticationError, AuthError
from cliproxy.auth.login import (
    BrowserOptions,
    LoginContext,
    SavedAccount,
    default_codex_auth_path,
    import_codex_auth,
    issuer_client,
    run_browser_login,
    run_device_login,
)
from cliproxy.auth.oauth import DEFAULT_CALLBACK_PORT
from cliproxy.auth.record import ImportRefused
from cliproxy.auth.store import StoreError
from cliproxy.auth.stores import credential_store
from cliproxy.cli.options import Command, command_config, config_option, exit_with, run_async
from cliproxy.cli.terminal import err, out

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status


_LINUX_LAUNCHERS = ("xdg-open", "x-www-browser", "www-browser", "firefox", "chromium", "google-chrome")


def _has_browser() -> bool:
    """A graphical browser we can start; a Linux box without a display has none."""
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
    return exit_with(message, code)


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
    loaded = command_config(config)
    ui = ConsoleUI(out())
    options = BrowserOptions(no_browser=no_browser, host=callback_host, port=callback_port,
                             redirect_port=redirect_port, fallback_port=fallback_port)

    async def flow() -> SavedAccount:
        async with issuer_client(loaded) as http:
            ctx = LoginContext.from_config(loaded, http, exchange_api_key=exchange_api_key)
            if device:
                return await run_device_login(ctx, ui, no_browser=no_browser)
            return await run_browser_login(ctx, ui, options)

    try:
        saved = run_async(flow())
    except AuthError as exc:
        raise _login_failed(exc) from None
    except StoreError as exc:
        raise exit_with(f"Login failed: {exc}") from None
    _report_saved(saved, exchange_api_key)


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
    loaded = command_config(config)
    source = path or default_codex_auth_path()
    try:
        saved = import_codex_auth(credential_store(loaded), source.expanduser())
    except ImportRefused as exc:
        raise exit_with(f"Import failed: {exc}") from None
    except (AuthError, StoreError) as exc:
        raise exit_with(f"Import failed: {exc}") from None
    plan = f" ({saved.plan} plan)" if saved.plan else ""
    out().print(f"Imported {saved.email}{plan} from {source}.", markup=False)
    out().print(f"{'Updated' if saved.replaced else 'Saved'} account file: {saved.location}", markup=False)
    err().print(SHARING_WARNING, markup=False, style="yellow")


def register(app: click.Group) -> None:
    """Add ``login`` and ``import-codex`` to the main CLI group."""
    app.add_command(login)
    app.add_command(import_codex)


__all__ = ["ConsoleUI", "import_codex", "login", "register"]
