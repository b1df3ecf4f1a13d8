"""The typer app of the ``cliproxy`` command: ``serve`` and the commands registered by
``auth.commands``, ``usage_cli`` and ``status``.

``cli.main`` imports it for every command line except a plain ``serve`` (see cli.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="A local OpenAI / Anthropic API server backed by your ChatGPT (Codex) accounts.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cliproxy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    """cliproxy: log in once, then point Claude Code, Codex CLI, Cursor or the SDKs at it."""


@app.command()
def serve(
    config: Annotated[str | None, typer.Option("--config", "-c", help="Config file (YAML).")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8317).")] = None,
) -> None:
    """Run the API server."""
    from .serve import run

    run(config, host, port)


def _register_commands() -> None:
    from .auth import commands as auth_commands

    auth_commands.register(app)
    from . import usage_cli

    usage_cli.register(app)
    from . import status as status_command

    status_command.register(app)


_register_commands()
