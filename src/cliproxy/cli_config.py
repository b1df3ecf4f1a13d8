"""Loading the config for a CLI command: the path rule, warnings shown, a bad file → exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from .config import Config, ConfigError, config_path, load_config


def load_cli_config(explicit: str | None, *, show_warnings: bool = True) -> tuple[Config, Path]:
    """The config at ``--config`` / ``CLIPROXY_CONFIG`` / the default path, and that path.

    A file that cannot be used ends the command with its message (key and problem) and exit code
    2, never a traceback.
    """
    path = config_path(explicit, os.environ)
    try:
        config, warnings = load_config(path)
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if show_warnings:
        for warning in warnings:
            typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    return config, path
