"""What every CLI command shares: the ``--config`` option, loading the config (a bad file → exit
2), running a one-shot command's coroutine, and the click classes that list commands as typer did
(in order, help never cut)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import click

from cliproxy.cli.terminal import err
from cliproxy.config.load import config_path, load_config
from cliproxy.config.schema import Config, ConfigError
from cliproxy.observe.logs import setup_logging

T = TypeVar("T")

config_option = click.option("--config", "-c", default=None, help="Config file (YAML).")


def load_cli_config(explicit: str | None, *, show_warnings: bool = True) -> tuple[Config, Path]:
    """The config at ``--config`` / ``CLIPROXY_CONFIG`` / the default path, and that path.

    A file that cannot be used ends the command with its message (key and problem) and exit code
    2, never a traceback.
    """
    path = config_path(explicit, os.environ)
    try:
        config, warnings = load_config(path)
    except ConfigError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        raise click.exceptions.Exit(2) from None
    if show_warnings:
        for warning in warnings:
            click.secho(f"warning: {warning}", fg="yellow", err=True)
    return config, path


def command_config(explicit: str | None) -> Config:
    """The config for a one-shot command. Its own output is the result, so the log shows only
    warnings unless the config asks for debug."""
    config = load_cli_config(explicit)[0]
    setup_logging(config.debug)
    if not config.debug:
        logging.getLogger().setLevel(logging.WARNING)
    return config


def run_async(coroutine: Awaitable[T]) -> T:
    """Run a command's coroutine to the end; Ctrl-C ends the command with exit code 130, not a traceback."""
    async def runner() -> T:
        return await coroutine

    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:
        err().print("Interrupted.")
        raise click.exceptions.Exit(130) from None


def exit_with(message: str, code: int = 1) -> click.exceptions.Exit:
    """Print the message on stderr and return the exit to raise (1: the command failed)."""
    err().print(message, markup=False)
    return click.exceptions.Exit(code)


def _whole_first_line(command: click.Command) -> str:
    return inspect.cleandoc(command.short_help or command.help or "").partition("\n")[0]


class Command(click.Command):
    """A command whose one-line help is listed whole (wrapped), not cut to the column with '...'."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return _whole_first_line(self)


class Group(click.Group):
    """A group that lists its commands in the order they were added, each with its whole help."""

    command_class = Command
    group_class = type  # sub-groups made with ``@group.group()`` are Groups too

    def get_short_help_str(self, limit: int = 45) -> str:
        return _whole_first_line(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)
