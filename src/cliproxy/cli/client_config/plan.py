"""A ``Plan``: everything ``setup`` and ``env`` say or do for one client, computed without side effects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cliproxy.cli.client_config.files import FileEdit


@dataclass(frozen=True)
class Place:
    """Where this user's client files live: the home directory and the environment that moves them
    (``CODEX_HOME``, ``CLAUDE_CONFIG_DIR``, ``XDG_CONFIG_HOME``)."""

    home: Path
    environ: Mapping[str, str] = field(default_factory=dict)

    def under(self, variable: str, *default: str) -> Path:
        value = self.environ.get(variable, "")
        return Path(value).expanduser() if value else self.home.joinpath(*default)


@dataclass(frozen=True)
class Wrapper:
    """A shell function that runs ``command`` with ``args`` first: for a client that takes its
    server from flags, not from the environment (Codex CLI's ``-c`` overrides)."""

    command: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    client: str  # the name on the command line
    title: str  # the product's name
    show: str  # the exact configuration, as printed by ``setup`` without ``--write``
    env: tuple[tuple[str, str], ...] = ()
    edits: tuple[FileEdit, ...] = ()
    notes: tuple[str, ...] = ()
    wrapper: Wrapper | None = None
    problem: str = ""  # why the files cannot be written (a file we cannot parse); printing still works


__all__ = ["Place", "Plan", "Wrapper"]
