"""Loading the config for a CLI command: the path rule, warnings shown, a bad file → exit 2.

Plain ``print`` to stderr, not typer: ``cliproxy serve`` loads its config here and a running
server should not carry typer in memory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .config import Config, ConfigError, config_path, load_config

_COLOURS = {"red": "\x1b[31m", "yellow": "\x1b[33m"}


def say(message: str, colour: str | None = None) -> None:
    """A line on stderr, coloured on a terminal only (as ``typer.secho(err=True)`` writes it)."""
    stream = sys.stderr
    if colour and stream.isatty():
        message = f"{_COLOURS[colour]}{message}\x1b[0m"
    print(message, file=stream, flush=True)


def fail(message: str, code: int = 2) -> SystemExit:
    """``error: message`` on stderr; raise the result to end the command with ``code``."""
    say(f"error: {message}", "red")
    return SystemExit(code)


def load_cli_config(explicit: str | None, *, show_warnings: bool = True) -> tuple[Config, Path]:
    """The config at ``--config`` / ``CLIPROXY_CONFIG`` / the default path, and that path.

    A file that cannot be used ends the command with its message (key and problem) and exit code
    2, never a traceback.
    """
    path = config_path(explicit, os.environ)
    try:
        config, warnings = load_config(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if show_warnings:
        for warning in warnings:
            say(f"warning: {warning}", "yellow")
    return config, path
