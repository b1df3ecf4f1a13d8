"""Every check in the order a person fixes things: the server, its shared state, its accounts, the
way out to the upstream, the bind, the files, then each client."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cliproxy.auth.credentials import load_credentials
from cliproxy.auth.stores import in_redis
from cliproxy.cli.client_config.facts import Fetch, fetch_json, gather
from cliproxy.cli.client_config.plan import Place
from cliproxy.cli.diagnose.accounts import check_accounts
from cliproxy.cli.diagnose.clients import check_amp, check_claude, check_codex, check_openai
from cliproxy.cli.diagnose.files import check_auth_files
from cliproxy.cli.diagnose.findings import Finding, needs_action
from cliproxy.cli.diagnose.keys import usable_keys
from cliproxy.cli.diagnose.network import check_bind, check_upstream, proxy_for
from cliproxy.cli.diagnose.server import check_server, pool_snapshot
from cliproxy.cli.diagnose.state import check_state
from cliproxy.config.schema import Config


@dataclass(frozen=True)
class Inputs:
    """What the checks look at; the network parts can be pointed elsewhere (tests use loopback)."""

    config: Config
    url: str  # the server's address
    home: Path
    environ: Mapping[str, str] = field(default_factory=dict)
    upstream_url: str = ""  # default: the config's codex-base-url
    timeout: float = 5.0
    tls_context: ssl.SSLContext | None = None
    fetch: Fetch = fetch_json


def run_checks(inputs: Inputs) -> list[Finding]:
    config = inputs.config
    server, live = check_server(config, inputs.url, inputs.timeout)
    state = check_state(config, inputs.timeout)
    findings = [server, *state]
    if in_redis(config) and needs_action(state):  # the accounts are where the state line says it cannot read
        findings.append(Finding("accounts", "fail", "kept in Redis (state.accounts: redis), which cannot be read "
                                "now: see the state line"))
    else:
        snapshot, source = pool_snapshot(config, live)
        findings += check_accounts(snapshot, source, load_credentials(config))
    findings.append(check_upstream(inputs.upstream_url or config.codex_base_url, proxy_for(config, inputs.environ),
                                   inputs.timeout, inputs.tls_context))
    findings.append(check_bind(config, live is not None or server.status != "fail"))
    findings.append(check_auth_files(config.auth_path))
    return findings + client_findings(inputs)


def client_findings(inputs: Inputs) -> list[Finding]:
    """Each client's lines, judged against what the server at ``inputs.url`` serves."""
    config, environ = inputs.config, inputs.environ
    facts = gather(inputs.url, usable_keys(config), fetch=inputs.fetch)
    place = Place(inputs.home, environ)
    return [*check_claude(place, facts, config, environ), check_codex(place, facts, config, environ),
            *check_amp(place, facts, config, environ), check_openai(facts, config, environ)]


__all__ = ["Inputs", "client_findings", "run_checks"]
