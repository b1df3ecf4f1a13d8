"""``cliproxy accounts push``, ``pull`` and ``key``: account records between the auth dir and Redis.

For instances that do not share an auth dir (``state.accounts: redis``): ``key`` makes the encryption
key, ``push`` copies the auth dir's account files into Redis (encrypted), ``pull`` writes Redis's
records back as files. Both read ``state.url``, ``state.prefix`` and the key from the config (or
``CLIPROXY_STATE_URL`` and ``CLIPROXY_ACCOUNTS_KEY``), whatever ``state.accounts`` says, so the records
can be moved before the instances are switched over. Output names accounts and counts, never a token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cliproxy.auth.store import CredentialStore, FileStore, StoreError
from cliproxy.auth.stores import redis_store
from cliproxy.auth.transfer import Transfer, transfer
from cliproxy.cli.accounts import accounts
from cliproxy.cli.options import command_config, config_option, exit_with
from cliproxy.cli.terminal import err, out

if TYPE_CHECKING:
    from cliproxy.auth.redis_store import RedisAccountStore

force_option = click.option("--force", is_flag=True,
                            help="Overwrite a record that is newer at the destination (its newer token is lost).")


def _move(source: CredentialStore, target: CredentialStore, force: bool) -> Transfer:
    try:
        return transfer(source, target, force=force)
    except StoreError as exc:
        raise exit_with(f"Nothing more was moved: {exc}") from None


def _report(done: Transfer, where: str) -> None:
    """What was done, one line each; a kept newer record makes the command fail (exit 1), so a script
    sees that not everything was moved."""
    out().print(f"{len(done.copied)} account(s) copied to {where}"
                + (f": {', '.join(done.copied)}" if done.copied else "") + ".", markup=False)
    if done.unchanged:
        out().print(f"{len(done.unchanged)} already the same there.", markup=False)
    if done.kept_newer:
        raise exit_with(f"{len(done.kept_newer)} not overwritten, because the record at {where} is newer "
                        f"(a later refresh): {', '.join(done.kept_newer)}. Use --force to overwrite it anyway.")


def _stores(config: str | None) -> tuple[RedisAccountStore, FileStore, str]:
    """The records in Redis, the auth dir's files, and where those are (for messages)."""
    loaded = command_config(config)
    try:
        in_redis = redis_store(loaded)
    except StoreError as exc:
        raise exit_with(str(exc)) from None
    return in_redis, FileStore(loaded.auth_path), str(loaded.auth_path)


@accounts.command("push")
@force_option
@config_option
def push(force: bool, config: str | None) -> None:
    """Copy every account file of the auth dir into Redis, encrypted (state.accounts-key)."""
    in_redis, files, _ = _stores(config)
    _report(_move(files, in_redis, force), in_redis.location(""))


@accounts.command("pull")
@force_option
@config_option
def pull(force: bool, config: str | None) -> None:
    """Write Redis's account records to the auth dir as files (mode 0600, written whole)."""
    in_redis, files, where = _stores(config)
    files.ensure_dir()
    _report(_move(in_redis, files, force), where)


@accounts.command("key")
def key() -> None:
    """Print a new encryption key for the account records in Redis (state.accounts-key)."""
    from cliproxy.auth.redis_store import new_key

    click.echo(new_key())
    err().print("Set it as state.accounts-key or CLIPROXY_ACCOUNTS_KEY, the same on every instance, and keep it "
                "secret: it decrypts every account's tokens.", markup=False)


__all__ = ["key", "pull", "push"]
