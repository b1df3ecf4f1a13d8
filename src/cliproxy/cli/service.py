"""``cliproxy service install|uninstall|status``: run ``cliproxy serve`` with the current config as a
user service (systemd on Linux, launchd on macOS) that starts at login and restarts on failure."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from cliproxy.cli.client_config.files import read_text
from cliproxy.cli.options import Group, config_option, exit_with
from cliproxy.cli.service_files import AGENT_LABEL, UNIT_NAME, ServiceFile, read_command, service_file
from cliproxy.config.load import config_path

platform_option = click.option("--platform", type=click.Choice(["linux", "macos"]), default=None, hidden=True,
                               help="Write the other platform's file (default: this machine's).")


def _platform(chosen: str | None) -> str:
    return chosen or ("macos" if sys.platform == "darwin" else "linux")


def _file(platform: str | None, config: str | None) -> ServiceFile:
    serve = [sys.executable, "-m", "cliproxy", "serve", "--config", str(config_path(config, os.environ).resolve())]
    return service_file(_platform(platform), serve, Path.home(), dict(os.environ))


def _run(commands: Sequence[Sequence[str]]) -> bool:
    """Run the service manager's commands; False (after saying why) at the first that fails."""
    for command in commands:
        if shutil.which(command[0]) is None:
            click.secho(f"{command[0]} is not available here: run it where it is: {shlex.join(command)}", fg="yellow")
            return False
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            click.secho(f"`{shlex.join(command)}` failed: {done.stderr.strip()}", fg="red")
            return False
    return True


@click.group("service", cls=Group)
def service() -> None:
    """Run the server as a user service (systemd on Linux, launchd on macOS): install, uninstall, status."""


@service.command("install")
@config_option
@click.option("--start/--no-start", default=True, help="Load and start it now (default) or only write the file.")
@platform_option
def install(config: str | None, start: bool, platform: str | None) -> None:
    """Write the service file for `cliproxy serve` with this config, and start it."""
    wanted = _file(platform, config)
    wanted.path.parent.mkdir(parents=True, exist_ok=True)
    wanted.path.write_text(wanted.text)
    click.echo(f"wrote {wanted.path}\n  runs: {read_command(wanted.platform, wanted.text)}\n  logs: {wanted.logs}")
    if not start:
        click.echo("start it with: " + " && ".join(shlex.join(c) for c in wanted.start))
    elif _run(wanted.start):
        click.secho("started; it restarts on failure and starts again at login", fg="green")


@service.command("uninstall")
@click.option("--stop/--no-stop", default=True, help="Stop and unload it first (default).")
@platform_option
def uninstall(stop: bool, platform: str | None) -> None:
    """Stop the service and remove its file."""
    installed = _file(platform, None)
    if not installed.path.exists():
        raise exit_with(f"no service installed ({installed.path} does not exist)")
    if stop:
        _run(installed.stop)
    installed.path.unlink()
    click.echo(f"removed {installed.path}")


@service.command("status")
@platform_option
def status(platform: str | None) -> None:
    """Show the installed service: its file, the command it runs, whether it is running, where it logs."""
    installed = _file(platform, None)
    text = read_text(installed.path)
    if text is None:
        raise exit_with(f"no service installed ({installed.path} does not exist): `cliproxy service install`")
    click.echo(f"file: {installed.path}\nruns: {read_command(installed.platform, text)}\nlogs: {installed.logs}")
    click.echo(f"state: {_state(installed)}")


def _state(installed: ServiceFile) -> str:
    command = (["systemctl", "--user", "is-active", UNIT_NAME] if installed.platform == "linux"
               else ["launchctl", "list", AGENT_LABEL])
    if shutil.which(command[0]) is None:
        return f"unknown ({command[0]} is not available)"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    answer = (done.stdout.strip() or done.stderr.strip()).splitlines()
    if installed.platform == "macos":
        return "loaded" if done.returncode == 0 else "not loaded"
    return answer[0] if answer else "unknown"


def register(app: click.Group) -> None:
    """Add ``service`` to the main CLI group."""
    app.add_command(service)


__all__ = ["register", "service"]
