"""``cliproxy env``'s output: a plan's variables (and wrapper function) in the syntax of bash, zsh or
fish, quoted so that any value survives ``eval``."""

from __future__ import annotations

import shlex

from cliproxy.cli.client_config.plan import Plan

SHELLS = ("bash", "zsh", "fish")


def fish_quote(value: str) -> str:
    """Fish single quotes: only ``\\`` and ``'`` are special inside them."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def exports(plan: Plan, shell: str) -> str:
    """The lines to ``eval``; a comment when the client takes nothing from the environment."""
    quote = fish_quote if shell == "fish" else shlex.quote
    lines = [f"# {plan.title}: eval this output in your shell for one session"]
    for name, value in plan.env:
        lines.append(f"set -gx {name} {quote(value)}" if shell == "fish" else f"export {name}={quote(value)}")
    if plan.wrapper is not None:
        args = " ".join(quote(arg) for arg in plan.wrapper.args)
        name = plan.wrapper.command
        lines.append(f"function {name}; command {name} {args} $argv; end" if shell == "fish"
                     else f"{name}() {{ command {name} {args} \"$@\"; }}")
    if not plan.env and plan.wrapper is None:
        lines.append(f"# {plan.title} takes nothing from the environment: run `cliproxy setup {plan.client}`")
    return "\n".join(lines) + "\n"


__all__ = ["SHELLS", "exports", "fish_quote"]
