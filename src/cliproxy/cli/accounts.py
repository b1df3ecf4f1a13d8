"""The ``accounts`` command group: list the signed-in accounts; disable, enable, remove, refresh or
reset (end the rest of) one.

Commands are thin: they load the config, run ``auth.accounts``, ``auth.store`` or ``auth.refresh``
and print the outcome. An account is named by its file name, email or label. Exit codes: 0 ok,
1 failed, 2 bad config, 130 interrupted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
import orjson

from cliproxy.auth.accounts import AccountNotFound, AccountSummary, list_accounts, relative, resolve, short_error
from cliproxy.auth.credentials import credential_from_record
from cliproxy.auth.login import issuer_client
from cliproxy.auth.oauth import Endpoints, revoke
from cliproxy.auth.refresh import Refresher, RefreshFailed, display
from cliproxy.auth.store import CredentialStore, FileStore, StoreError
from cliproxy.auth.stores import credential_store, in_redis
from cliproxy.cli.options import Group, command_config, config_option, exit_with, run_async
from cliproxy.cli.terminal import out
from cliproxy.config.schema import Config

if TYPE_CHECKING:
    from rich.table import Table

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
name_argument = click.argument("name")  # help in the command's own docstring: click arguments take none


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
    loaded = command_config(explicit_config)
    now = time.time()
    try:
        accounts = list_accounts(credential_store(loaded), now)
    except StoreError as exc:
        raise exit_with(str(exc)) from None
    if as_json:
        click.echo(orjson.dumps([a.as_json() for a in accounts], option=orjson.OPT_INDENT_2).decode())
        return
    if not accounts:
        out().print(f"No accounts in {_where(loaded)}. Run `cliproxy login` (or `cliproxy login --device`) "
                    "to add one.", markup=False)
        return
    out().print(_table(accounts, now))
    for account in accounts:
        if account.status == "needs login":  # the last error, in full, where it matters
            out().print(f"{account.email} needs a new login ({short_error(account)}): {account.last_error}. "
                        "Run `cliproxy login` to sign in again.", markup=False)
    out().print(f"Account files: {loaded.auth_path}" if not in_redis(loaded) else
                f"Accounts: {_where(loaded)} (encrypted)", markup=False)


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


def _where(loaded: Config) -> str:
    """Where the accounts are, for messages: the auth dir, or the Redis (never its password)."""
    if not in_redis(loaded):
        return str(loaded.auth_path)
    from cliproxy.state.redis import where

    return f"Redis at {where(loaded.state.url)} (prefix {loaded.state.prefix!r})"


def _locate(loaded: Config, name: str) -> tuple[CredentialStore, str]:
    store = credential_store(loaded)
    try:
        return store, resolve(store, name)
    except (AccountNotFound, StoreError) as exc:
        raise exit_with(str(exc)) from None


def _edit(loaded: Config, name: str, change: Callable[[dict[str, Any]], None]) -> tuple[str, dict[str, Any]]:
    store, found = _locate(loaded, name)
    try:
        with store.lock(found):
            record = store.read(found)
            if record is None:
                raise exit_with(f"account file {found} is gone")
            change(record)
            store.write(found, record)
    except StoreError as exc:
        raise exit_with(str(exc)) from None
    return found, record


@accounts.command("disable")
@name_argument
@config_option
def disable(name: str, config: str | None) -> None:
    """Stop using an account (it is still refreshed, so it works when enabled again).

    NAME is the file name, email or label of the account.
    """
    found, record = _edit(command_config(config), name, lambda record: record.update(disabled=True))
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

    found, record = _edit(command_config(config), name, change)
    out().print(f"Enabled {record.get('email') or found}.", markup=False)


@accounts.command("remove")
@name_argument
@click.option("--no-revoke", is_flag=True, help="Do not revoke the token at the issuer.")
@config_option
def remove(name: str, no_revoke: bool, config: str | None) -> None:
    """Delete an account file, revoking its token first (best effort).

    NAME is the file name, email or label of the account.
    """
    loaded = command_config(config)
    store, found = _locate(loaded, name)

    async def revoke_tokens(record: dict[str, Any]) -> bool:
        async with issuer_client(loaded, str(record.get("proxy_url") or "")) as http:
            return await revoke(http, Endpoints(loaded.oauth_issuer),
                                refresh_token=str(record.get("refresh_token") or ""),
                                access_token=str(record.get("access_token") or ""))

    with store.lock(found):
        record = store.read(found) or {}
        revoked = False if no_revoke or not record else run_async(revoke_tokens(record))
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
    loaded = command_config(config)
    store, found = _locate(loaded, name)
    record = store.read(found)
    if record is None:
        raise exit_with(f"account file {found} is gone")
    path = store.path(found) if isinstance(store, FileStore) else None
    credential = credential_from_record(record, found, loaded.codex_base_url, path)

    async def run() -> Any:
        refresher = Refresher(loaded, None, store=store)
        try:
            return await refresher.refresh(credential, force=True)
        finally:
            await refresher.aclose()

    try:
        fresh = run_async(run())
    except RefreshFailed as exc:
        raise exit_with(exc.message) from None
    until = relative(fresh.expires_at, time.time()) if fresh.expires_at else "unknown"
    out().print(f"Refreshed {display(fresh)}: the new token expires {until}.", markup=False)


@accounts.command("reset")
@click.argument("name", required=False)
@config_option
def reset(name: str | None, config: str | None) -> None:
    """End an account's rest now (every account's without NAME), when you know it can serve again.

    NAME is the file name, email or label of the account. A running server is told at once; without
    one, the saved pool state is cleared for the next start.
    """
    from cliproxy.cli.status import reset_rests  # it loads the server's local routes: only for this command

    loaded = command_config(config)
    found = _locate(loaded, name)[1] if name else None
    done, where = reset_rests(loaded, found)
    if not done:
        subject = f"{found} was not resting" if found else "No account was resting"
        out().print(f"{subject} {where}.", markup=False)
        return
    out().print(f"Back in rotation {where}: {', '.join(done)}.", markup=False)


def register(app: click.Group) -> None:
    """Add ``accounts`` to the main CLI group, with its commands that move records to and from Redis."""
    from cliproxy.cli import accounts_move  # noqa: F401  (it adds push, pull and key to the group)

    app.add_command(accounts)


__all__ = ["accounts", "register"]
