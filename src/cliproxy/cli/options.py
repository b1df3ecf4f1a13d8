"""What every CLI command shares: the ``--config`` option, loading the config (a bad file → exit
2), and the click classes that list commands as typer did (in order, help never cut)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import click

from cliproxy.config.load import config_path, load_config
from cliproxy.config.schema import Config, ConfigError

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
