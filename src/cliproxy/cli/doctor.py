"""``cliproxy doctor``: one line per check, what to do about each failure, and a non-zero exit when
something needs action — the first thing to run when a client says something went wrong."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cliproxy.cli.diagnose.findings import needs_action
from cliproxy.cli.diagnose.run import Inputs, run_checks
from cliproxy.cli.options import Command, config_option, load_cli_config
from cliproxy.cli.status import server_url

COLOURS = {"ok": "green", "info": None, "warn": "yellow", "fail": "red"}


@click.command("doctor", cls=Command)
@config_option
@click.option("--url", default=None, help="The server's address (default: from the config).")
@click.option("--upstream-url", default=None, help="Check this upstream instead of the config's codex-base-url.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds each network check may take.")
def doctor(config: str | None, url: str | None, upstream_url: str | None, timeout: float) -> None:
    """Check the server, accounts, upstream, port, file modes and each client's settings; exit 1 on a failure."""
    loaded = load_cli_config(config, show_warnings=True)[0]
    inputs = Inputs(loaded, url or server_url(loaded), Path.home(), dict(os.environ), upstream_url or "", timeout)
    findings = run_checks(inputs)
    for finding in findings:
        click.secho(finding.line(), fg=COLOURS[finding.status])
    if needs_action(findings):
        failed = sum(1 for finding in findings if finding.status == "fail")
        click.secho(f"\n{failed} check(s) need action (see → above).", fg="red")
        raise click.exceptions.Exit(1)
    click.secho("\nAll checks passed.", fg="green")


def register(app: click.Group) -> None:
    """Add ``doctor`` to the main CLI group."""
    app.add_command(doctor)


__all__ = ["doctor", "register"]
