"""The ``cliproxy`` command: ``serve``, plus the commands each ``cli`` module registers (login, accounts,
usage, status)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from cliproxy import __version__
from cliproxy.cli.options import Group, config_option, load_cli_config
from cliproxy.config.schema import Config
from cliproxy.observe.logs import REDACTOR, known_secrets, setup_logging


@click.group(cls=Group, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
             help="A local OpenAI / Anthropic API server backed by your ChatGPT (Codex) accounts.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda c, _, on: _version(c, on),
              help="Show the version and the commit it was built from, and exit.")
def app() -> None:
    """cliproxy: log in once, then point Claude Code, Codex CLI, Cursor or the SDKs at it."""


def _version(ctx: click.Context, on: bool) -> None:
    """``--version``: read the commit only when asked (``git describe`` in a checkout costs a process)."""
    if on and not ctx.resilient_parsing:
        from cliproxy.version import version_line

        click.echo(version_line())
        ctx.exit()


def fail(message: str, code: int = 2) -> click.exceptions.Exit:
    click.secho(f"error: {message}", fg="red", err=True)
    return click.exceptions.Exit(code)


def _home(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text


def _self_command() -> str:
    """How to call this program again: ``cliproxy`` when that is on PATH, else the path used."""
    invoked = Path(sys.argv[0])
    on_path = shutil.which("cliproxy")
    if on_path and invoked.name == "cliproxy" and Path(on_path).resolve() == invoked.resolve():
        return "cliproxy"
    return str(invoked) if invoked.name == "cliproxy" else "cliproxy"


def _banner(config: Config, path: Path, host: str, port: int, accounts: int) -> str:
    scheme = "https" if config.tls.enable else "http"
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown_host}:{port}"
    lines = [
        f"cliproxy {__version__} listening on {url}",
        f"  config:   {_home(path)}" + ("" if path.exists() else " (not found: built-in defaults)"),
        f"  accounts: {_home(config.auth_path) if config.state.accounts != 'redis' else 'in Redis, encrypted'}"
        f" ({accounts} found)",
        f"  clients:  OpenAI base URL {url}/v1 · Anthropic base URL {url}",
    ]
    if accounts == 0:
        me = _self_command()
        lines.append(f"  next:     no account yet: run `{me} login` (or `{me} login --device`)")
    if not config.requires_key:
        lines.append("  access:   open to local clients (no api-keys set)")
    return "\n".join(lines)


@app.command()
@config_option
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8317).")
def serve(config: str | None, host: str | None, port: int | None) -> None:
    """Run the API server."""
    import uvicorn

    from cliproxy.auth.store import StoreError
    from cliproxy.config.exposure import open_to_the_network, refusal
    from cliproxy.config.snapshot import Snapshot
    from cliproxy.server.app import build_app, build_services
    from cliproxy.server.connection import bounded_protocol
    from cliproxy.server.websocket import websocket_protocol

    loaded, path = load_cli_config(config)
    bind_host = host or loaded.host
    bind_port = loaded.port if port is None else port
    if open_to_the_network(loaded, bind_host):
        raise fail(refusal(bind_host))
    setup_logging(loaded.debug, known_secrets(loaded))
    try:
        snapshot = Snapshot.build(loaded)
    except StoreError as exc:  # account records in Redis this key cannot decrypt
        raise fail(str(exc)) from None
    REDACTOR.register(known_secrets(loaded, snapshot.credentials))
    services = build_services(snapshot, bind_host, config_path=path)
    click.echo(_banner(loaded, path, bind_host, bind_port, len(snapshot.credentials)))
    sys.stdout.flush()
    limits = lambda: services.holder.current.config.limits  # noqa: E731
    ping = loaded.streaming.keepalive_seconds or None  # WebSocket pings during silences, as SSE keepalives
    uvicorn.run(build_app(services), host=bind_host, port=bind_port, log_config=None, access_log=False,
                loop="auto", http=bounded_protocol(limits), ws=websocket_protocol(limits),  # type: ignore[arg-type]
                ws_ping_interval=ping,
                server_header=False, proxy_headers=False,  # a client is its socket's address, never X-Forwarded-For
                ssl_certfile=loaded.tls.cert if loaded.tls.enable else None,
                ssl_keyfile=loaded.tls.key if loaded.tls.enable else None)


def _register_commands() -> None:
    from cliproxy.cli import accounts, completion, doctor, login, service, status, usage
    from cliproxy.cli import setup as client_setup

    for module in (login, accounts, usage, status, client_setup, doctor, service, completion):
        module.register(app)


_register_commands()


def main() -> None:
    from cliproxy.auth.store import StoreError

    # Named, so shell completion answers to _CLIPROXY_COMPLETE however it is started (python -m too).
    try:
        app(prog_name="cliproxy", complete_var="_CLIPROXY_COMPLETE")
    except StoreError as exc:  # the account store failed under a command (Redis away, a wrong key): say so
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
