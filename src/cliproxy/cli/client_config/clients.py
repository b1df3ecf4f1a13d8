"""The table of clients ``setup`` and ``env`` know, by the name used on the command line."""

from __future__ import annotations

from collections.abc import Callable

from cliproxy.cli.client_config import amp, claude, codex, others
from cliproxy.cli.client_config.facts import ServerFacts
from cliproxy.cli.client_config.plan import Place, Plan

PLANS: dict[str, Callable[[ServerFacts, Place], Plan]] = {
    "claude": claude.plan,
    "codex": codex.plan,
    "cursor": others.cursor,
    "amp": amp.plan,
    "openai": others.openai,
}

__all__ = ["PLANS"]
