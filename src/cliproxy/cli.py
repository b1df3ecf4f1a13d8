"""The ``cliproxy`` command (entry point ``cliproxy.cli:main``).

A plain ``cliproxy serve`` goes straight to ``serve.run``; every other command line goes to the
typer app in cli_app.py. Whatever the entry imports stays in a server's memory for its whole life,
and typer costs a lot there: it validates parameters with pydantic (about 8 MiB resident once
imported), and the app imports every command module to register it (another MiB or so).
"""

from __future__ import annotations

import sys
from typing import Any

_SERVE_OPTIONS = {"--config": "config", "-c": "config", "--host": "host", "--port": "port"}


def _plain_serve(argv: list[str]) -> dict[str, Any] | None:
    """The options of ``serve`` when given plainly (``--port 8317``, ``--port=8317``), else None.

    Help, a typo or a bad value is left to typer, so its messages stay the same.
    """
    if argv[:1] != ["serve"]:
        return None
    options: dict[str, Any] = {}
    rest = argv[1:]
    while rest:
        flag, inline, value = rest.pop(0).partition("=")
        if flag not in _SERVE_OPTIONS or (inline and (not value or not flag.startswith("--"))):
            return None
        if not inline:
            if not rest or rest[0].startswith("-"):
                return None
            value = rest.pop(0)
        options[_SERVE_OPTIONS[flag]] = value
    if "port" in options:
        try:
            options["port"] = int(options["port"])
        except ValueError:
            return None
    return options


def main() -> None:
    options = _plain_serve(sys.argv[1:])
    if options is not None:
        from .serve import run

        run(**options)
        return
    from .cli_app import app

    app()


def __getattr__(name: str) -> Any:
    """``cli.app``, the typer app, imported when asked for (tests invoke commands through it)."""
    if name == "app":
        from .cli_app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
