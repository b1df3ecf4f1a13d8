"""``cliproxy setup CLIENT`` and ``cliproxy env CLIENT``: point Claude Code, Codex CLI, Cursor, Amp or
the OpenAI SDKs at this server with one command.

``setup`` prints the exact configuration; with ``--write`` it merges it into the client's own
files, showing the diff and keeping a backup first. ``env`` prints shell exports for one session.
The logic is in ``cli/client_config``; this module only talks to the terminal.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from cliproxy.cli.client_config import amp, amp_mappings
from cliproxy.cli.client_config.clients import PLANS
from cliproxy.cli.client_config.facts import ServerFacts, gather
from cliproxy.cli.client_config.files import FileEdit, apply
from cliproxy.cli.client_config.plan import Place, Plan
from cliproxy.cli.client_config.shell import SHELLS, exports
from cliproxy.cli.diagnose.keys import key_problem, usable_keys
from cliproxy.cli.options import Command, config_option, exit_with, load_cli_config
from cliproxy.cli.status import server_url

client_argument = click.argument("client", type=click.Choice(list(PLANS)), metavar="CLIENT")
url_option = click.option("--url", default=None, help="The server's address (default: from the config).")
key_option = click.option("--key", default=None,
                          help="The API key to use (default: the config's first api-key, else its first client key).")


def _facts(config: str | None, url: str | None, key: str | None) -> ServerFacts:
    loaded = load_cli_config(config, show_warnings=False)[0]
    refused = key_problem(loaded, key) if key else ""
    if refused:
        click.secho(f"warning: --key: {refused}", fg="yellow", err=True)
    return gather(url or server_url(loaded), usable_keys(loaded), key)


def _plan(client: str, facts: ServerFacts) -> Plan:
    return PLANS[client](facts, Place(Path.home(), dict(os.environ)))


def _planned(client: str, facts: ServerFacts, config: str | None, mappings: bool) -> Plan:
    """The client's plan; for Amp also the model mappings it needs in this server's own config."""
    plan = _plan(client, facts)
    if client != "amp" or not mappings:
        return plan
    loaded, path = load_cli_config(config, show_warnings=False)
    return amp.with_mappings(plan, amp_mappings.plan(facts, path, loaded))


def _show(plan: Plan, facts: ServerFacts) -> None:
    click.echo(f"# {plan.title} → {facts.url} (models: {facts.source})")
    click.echo(plan.show)
    for note in plan.notes:
        click.echo(f"note: {note}")


def _write_one(edit: FileEdit, key: str, yes: bool) -> None:
    if not edit.changes:
        click.secho(f"✓ {edit.path} {edit.settled}", fg="green")
        return
    click.echo(edit.diff(secret=key), nl=False)
    if not yes:
        click.confirm(f"Write {edit.path}?", default=True, abort=True)
    backup = apply(edit)
    click.secho(f"✓ wrote {edit.path}" + (f" (the old one is kept as {backup})" if backup else ""), fg="green")


@click.command("setup", cls=Command)
@client_argument
@config_option
@url_option
@key_option
@click.option("--write", is_flag=True, help="Merge the settings into the client's files (diff and backup first).")
@click.option("--yes", "-y", is_flag=True, help="With --write: do not ask before writing.")
@click.option("--mappings/--no-mappings", default=True,
              help="amp: also map the Claude models Amp asks for to served models in this server's config "
                   "(ampcode.model-mappings; the user's own entries are kept).")
def setup(client: str, config: str | None, url: str | None, key: str | None, write: bool, yes: bool,
          mappings: bool) -> None:
    """Print (or --write) the settings that point a client at this server: claude, codex, cursor, amp, openai."""
    facts = _facts(config, url, key)
    plan = _planned(client, facts, config, mappings)
    if not write:
        _show(plan, facts)
        if plan.edits:
            click.echo(f"\nRun `cliproxy setup {client} --write` to merge this into the file(s) above.")
        return
    if plan.problem:
        raise exit_with(f"error: {plan.problem}")
    if not plan.edits:
        _show(plan, facts)
        click.echo(f"\nNothing to write for {plan.title}: enter the settings above in it.")
        return
    click.echo(f"# {plan.title} → {facts.url} (models: {facts.source})")
    for edit in plan.edits:
        _write_one(edit, facts.key, yes)
    for note in plan.notes:
        click.echo(f"note: {note}")


def _default_shell() -> str:
    name = Path(os.environ.get("SHELL", "bash")).name
    return name if name in SHELLS else "bash"


@click.command("env", cls=Command)
@client_argument
@config_option
@url_option
@key_option
@click.option("--shell", type=click.Choice(SHELLS), default=None, help="The shell's syntax (default: from $SHELL).")
def env(client: str, config: str | None, url: str | None, key: str | None, shell: str | None) -> None:
    """Print shell exports that point a client at this server for one session: eval "$(cliproxy env claude)"."""
    plan = _plan(client, _facts(config, url, key))
    click.echo(exports(plan, shell or _default_shell()), nl=False)


def register(app: click.Group) -> None:
    """Add ``setup`` and ``env`` to the main CLI group."""
    app.add_command(setup)
    app.add_command(env)


__all__ = ["env", "register", "setup"]
