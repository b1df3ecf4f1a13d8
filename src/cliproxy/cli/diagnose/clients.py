"""Each client's settings on this machine: pointed at this server, with a key it accepts, asking for
models it serves. A client that is not set up is said, not failed: the user may not use it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import tomlkit
from tomlkit.exceptions import TOMLKitError

from cliproxy.cli.client_config import amp, claude, codex
from cliproxy.cli.client_config.facts import ServerFacts
from cliproxy.cli.client_config.files import read_text
from cliproxy.cli.client_config.plan import Place
from cliproxy.cli.diagnose.findings import Finding
from cliproxy.config.exposure import is_loopback


def same_server(configured: str, ours: str) -> bool:
    """Whether a client's base URL reaches ``ours``: same scheme and port, and the same host, where
    every loopback name counts as one (``localhost`` and ``127.0.0.1``)."""
    a, b = urlsplit(configured.rstrip("/")), urlsplit(ours)
    hosts_match = a.hostname == b.hostname or (is_loopback(a.hostname or "") and is_loopback(b.hostname or ""))
    return a.scheme == b.scheme and a.port == b.port and hosts_match


def _verdict(name: str, url: str, key: str, models: Mapping[str, str], facts: ServerFacts,
             keys: Sequence[str]) -> Finding:
    fix = f"run `cliproxy setup {name} --write`"
    if not same_server(url, facts.url):
        return Finding(name, "warn", f"points at {url}, not at this server ({facts.url})", fix)
    if keys and key not in keys:
        return Finding(name, "fail", "its key is not one of the server's api-keys (it would get a 401)", fix)
    unserved = [f"{setting}={model}" for setting, model in models.items() if model not in facts.model_ids]
    if unserved:
        return Finding(name, "fail", f"asks for models this server does not serve: {', '.join(unserved)}", fix)
    served = f" and served models ({', '.join(models.values())})" if models else ""
    return Finding(name, "ok", f"points at this server with a valid key{served}")


def check_claude(place: Place, facts: ServerFacts, keys: Sequence[str]) -> Finding:
    text = read_text(claude.settings_path(place))
    try:
        env = json.loads(text).get("env", {}) if text else {}
    except (ValueError, AttributeError):
        return Finding("claude", "fail", f"{claude.settings_path(place)} is not valid JSON", "fix or move it")
    if not isinstance(env, dict) or "ANTHROPIC_BASE_URL" not in env:
        return Finding("claude", "info", "not set up", "`cliproxy setup claude --write` if you use Claude Code")
    key = str(env.get("ANTHROPIC_AUTH_TOKEN") or env.get("ANTHROPIC_API_KEY") or "")
    models = {s: str(env[s]) for s in claude.FAMILY_SETTINGS.values() if s in env}
    if len(models) < len(claude.FAMILY_SETTINGS):
        return Finding("claude", "fail", "some ANTHROPIC_DEFAULT_*_MODEL settings are missing: Claude Code would "
                       "ask for its own model names", "run `cliproxy setup claude --write`")
    return _verdict("claude", str(env["ANTHROPIC_BASE_URL"]), key, models, facts, keys)


def check_codex(place: Place, facts: ServerFacts, keys: Sequence[str], environ: Mapping[str, str]) -> Finding:
    path = codex.config_path(place)
    try:
        document = tomlkit.parse(read_text(path) or "").unwrap()
    except TOMLKitError:
        return Finding("codex", "fail", f"{path} is not valid TOML", "fix or move it")
    provider = (document.get("model_providers") or {}).get(document.get("model_provider") or "")
    if not isinstance(provider, dict) or not provider.get("base_url"):
        return Finding("codex", "info", "not set up", "`cliproxy setup codex --write` if you use Codex CLI")
    key = str(provider.get("experimental_bearer_token") or environ.get(str(provider.get("env_key") or ""), ""))
    url = str(provider["base_url"]).rstrip("/").removesuffix("/v1")
    return _verdict("codex", url, key, {"model": str(document.get("model") or "")}, facts, keys)


def check_amp(place: Place, facts: ServerFacts, keys: Sequence[str], environ: Mapping[str, str]) -> Finding:
    text = read_text(amp.settings_path(place))
    try:
        url = environ.get("AMP_URL") or (json.loads(text).get(amp.URL_SETTING) if text else None)
    except (ValueError, AttributeError):
        return Finding("amp", "fail", f"{amp.settings_path(place)} is not valid JSON", "fix or move it")
    if not url:
        return Finding("amp", "info", "not set up", "`cliproxy setup amp --write` if you use Amp")
    key = environ.get("AMP_API_KEY") or _amp_saved_key(place, str(url))
    if not key:
        return Finding("amp", "warn", "no key: AMP_API_KEY is not set in this shell and Amp's secrets file has none "
                       "for this server", "run `cliproxy setup amp --write`")
    return _verdict("amp", str(url), key, {}, facts, keys)


def _amp_saved_key(place: Place, url: str) -> str:
    """The key Amp reads from its secrets file for ``url`` (what ``amp login`` or ``setup`` saved)."""
    try:
        saved = json.loads(read_text(amp.secrets_path(place)) or "{}").get(amp.key_name(url))
    except (ValueError, AttributeError):
        return ""
    return saved if isinstance(saved, str) else ""


__all__ = ["check_amp", "check_claude", "check_codex", "same_server"]
