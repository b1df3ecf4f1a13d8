"""``cliproxy completion SHELL``: the tab-completion script for bash, zsh or fish, from click.

Add ``eval "$(cliproxy completion bash)"`` to ``~/.bashrc`` (``zsh`` likewise in ``~/.zshrc``), or
``cliproxy completion fish > ~/.config/fish/completions/cliproxy.fish``. It is the same script
click prints for ``_CLIPROXY_COMPLETE=bash_source cliproxy``.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from cliproxy.cli.options import Command

SHELLS = ("bash", "zsh", "fish")


@click.command("completion", cls=Command)
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script: eval "$(cliproxy completion bash)" (zsh, fish likewise)."""
    root = ctx.find_root().command
    completer = get_completion_class(shell)
    assert completer is not None  # every name in SHELLS is one of click's
    click.echo(completer(root, {}, "cliproxy", "_CLIPROXY_COMPLETE").source())


def register(app: click.Group) -> None:
    """Add ``completion`` to the main CLI group."""
    app.add_command(completion)


__all__ = ["completion", "register"]
