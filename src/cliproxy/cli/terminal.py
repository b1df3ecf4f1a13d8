"""The CLI's rich consoles, built on first use.

``cli.py`` imports every command module to register its command, so a module-level ``Console``
would load rich (about 2 MiB resident) into ``cliproxy serve`` too, which never prints a table.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def out() -> Console:
    """Standard output: tables and results."""
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False)


@cache
def err() -> Console:
    """Standard error: failures and warnings."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, highlight=False)
