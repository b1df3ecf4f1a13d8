"""Each client's settings on this machine: pointed at this server, with a key it accepts, asking for
models it serves. A client that is not set up is said, not failed: the user may not use it.

Settings come from the client's files and from this shell's environment, merged the way each
client merges them: Claude Code applies its settings file's ``env`` over the environment (the file
wins), Amp lets ``AMP_URL`` and ``AMP_API_KEY`` win over its files, the OpenAI SDKs read only the
environment. A shell value the client ignores, or one that overrides a file, is pointed out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

import tomlkit
from tomlkit.exceptions import TOMLKitError

from cliproxy.cli.client_config import amp, claude, codex
from cliproxy.cli.client_config.facts import ServerFacts
from cliproxy.cli.client_config.files import read_text
from cliproxy.cli.client_config.plan import Place
from cliproxy.cli.diagnose.findings import Finding
from cliproxy.cli.diagnose.keys import key_problem
from cliproxy.config.exposure import is_loopback
from cliproxy.config.schema import Config

CLAUDE_VARIABLES = ("ANTHROPIC_BASE_URL", *claude.KEY_SETTINGS, *claude.FAMILY_SETTINGS.values())
SECRET_VARIABLES = frozenset((*claude.KEY_SETTINGS, amp.KEY_VARIABLE, "OPENAI_API_KEY"))


def same_server(configured: str, ours: str) -> bool:
    """Whether a client's base URL reaches ``ours``: same scheme and port, and the same host, where
    every loopback name counts as one (``localhost`` and ``127.0.0.1``)."""
    a, b = urlsplit(configured.rstrip("/")), urlsplit(ours)
    hosts_match = a.hostname == b.hostname or (is_loopback(a.hostname or "") and is_loopback(b.hostname or ""))
    return a.scheme == b.scheme and a.port == b.port and hosts_match


def _verdict(name: str, url: str, key: str, models: Mapping[str, str], facts: ServerFacts, config: Config,
             fix: str = "") -> Finding:
    fix = fix or f"run `cliproxy setup {name} --write`"
    if not same_server(url, facts.url):
        return Finding(name, "warn", f"points at {url}, not at this server ({facts.url})", fix)
    refused = key_problem(config, key, models.values())
    if refused:
        return Finding(name, "fail", refused, fix)
    unserved = [f"{setting}={model}" for setting, model in models.items() if model not in facts.model_ids]
    if unserved:
        return Finding(name, "fail", f"asks for models this server does not serve: {', '.join(unserved)}", fix)
    served = f" and served models ({', '.join(dict.fromkeys(models.values()))})" if models else ""
    return Finding(name, "ok", f"points at this server with a valid key{served}")


def _overridden(name: str, shell: Mapping[str, str], files: Mapping[str, object], winner: str) -> Finding | None:
    """A warning naming the variables whose shell value differs from the files' (values of keys unsaid)."""
    differ = [v for v in files if shell.get(v) and str(files[v]) != shell[v]]
    if not differ:
        return None
    shown = ", ".join(v if v in SECRET_VARIABLES else f"{v}={shell[v]}" for v in differ)
    return Finding(name, "warn", f"this shell's {shown} differs from the settings; {winner} wins",
                   "unset it, or make the two agree")


def _claude_file(place: Place) -> tuple[dict[str, object], dict[str, object]] | Finding:
    """The settings file's ``env`` block and ``modelOverrides``."""
    text = read_text(claude.settings_path(place))
    try:
        settings = json.loads(text) if text else {}
        env, overrides = settings.get("env", {}), settings.get(claude.OVERRIDES, {})
    except (ValueError, AttributeError):
        return Finding("claude", "fail", f"{claude.settings_path(place)} is not valid JSON", "fix or move it")
    if not isinstance(env, dict) or not isinstance(overrides, dict):
        return Finding("claude", "fail", f"{claude.settings_path(place)} has a malformed `env` or "
                       f"`{claude.OVERRIDES}`", "fix or move it")
    return env, overrides


def _claude_models(env: Mapping[str, object], overrides: Mapping[str, object]) -> dict[str, str]:
    """The family settings, and the overrides ``setup`` writes (the user's own ones are theirs)."""
    families = {s: str(env[s]) for s in claude.FAMILY_SETTINGS.values() if s in env}
    ours = {f"{claude.OVERRIDES}.{i}": str(overrides[i]) for i in claude.CLAUDE_IDS.values() if i in overrides}
    return {**families, **ours}


def check_claude(place: Place, facts: ServerFacts, config: Config, environ: Mapping[str, str]) -> list[Finding]:
    from_file = _claude_file(place)
    if isinstance(from_file, Finding):
        return [from_file]
    file_env, overrides = from_file
    env = {**{v: environ[v] for v in CLAUDE_VARIABLES if environ.get(v)}, **file_env}  # the file wins
    if "ANTHROPIC_BASE_URL" not in env:
        return [Finding("claude", "info", "not set up", "`cliproxy setup claude --write` if you use Claude Code")]
    key = str(env.get("ANTHROPIC_AUTH_TOKEN") or env.get("ANTHROPIC_API_KEY") or "")
    models = _claude_models(env, overrides)
    if not all(s in models for s in claude.FAMILY_SETTINGS.values()):
        verdict = Finding("claude", "fail", "some ANTHROPIC_DEFAULT_*_MODEL settings are missing: Claude Code would "
                          "ask for its own model names", "run `cliproxy setup claude --write`")
    else:
        verdict = _verdict("claude", str(env["ANTHROPIC_BASE_URL"]), key, models, facts, config)
    clash = _overridden("claude", environ, {k: v for k, v in file_env.items() if k in CLAUDE_VARIABLES},
                        str(claude.settings_path(place)))
    return [verdict] + ([clash] if clash else [])


def check_codex(place: Place, facts: ServerFacts, config: Config, environ: Mapping[str, str]) -> Finding:
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
    verdict = _verdict("codex", url, key, {"model": str(document.get("model") or "")}, facts, config)
    return verdict if verdict.status != "ok" or _reads_our_catalogue(provider, facts) else Finding(
        "codex", "warn", "has no model_catalog_url naming this server: Codex uses the models built into it, and "
        "one it does not know there gets no apply_patch tool (edits go through the shell)",
        "run `cliproxy setup codex --write`")


def _reads_our_catalogue(provider: Mapping[str, object], facts: ServerFacts) -> bool:
    """Whether Codex takes its model metadata (tools, context window, efforts) from this server:
    for a custom provider it fetches a catalogue only from the provider's ``model_catalog_url``."""
    url = str(provider.get("model_catalog_url") or "")
    return bool(url) and same_server(url, facts.url) and urlsplit(url).path.rstrip("/") == "/v1/models"


def check_amp(place: Place, facts: ServerFacts, config: Config, environ: Mapping[str, str]) -> list[Finding]:
    text = read_text(amp.settings_path(place))
    try:
        file_url = json.loads(text).get(amp.URL_SETTING) if text else None
    except (ValueError, AttributeError):
        return [Finding("amp", "fail", f"{amp.settings_path(place)} is not valid JSON", "fix or move it")]
    url = environ.get(amp.URL_VARIABLE) or file_url
    if not url:
        return [Finding("amp", "info", "not set up", "`cliproxy setup amp --write` if you use Amp")]
    key = environ.get(amp.KEY_VARIABLE) or amp.stored_key(place, str(url))
    if not key and same_server(str(url), facts.url):
        verdict = Finding("amp", "fail", f"no key for {url}: neither {amp.KEY_VARIABLE} nor Amp's secrets file has one "
                          "(amp would start its login flow)", "run `cliproxy setup amp --write`")
    else:
        verdict = _verdict("amp", str(url), key, {}, facts, config)
    clash = _overridden("amp", environ, {amp.URL_VARIABLE: file_url} if file_url else {}, amp.URL_VARIABLE)
    return [verdict] + ([clash] if clash else [])


def check_openai(facts: ServerFacts, config: Config, environ: Mapping[str, str]) -> Finding:
    """The OpenAI SDKs (and tools built on them) read ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``."""
    url = environ.get("OPENAI_BASE_URL", "")
    if not url:
        return Finding("openai", "info", "OPENAI_BASE_URL is not set in this shell (the OpenAI SDKs go to OpenAI)",
                       '`eval "$(cliproxy env openai)"` if you use them with this server')
    return _verdict("openai", url.rstrip("/").removesuffix("/v1"), environ.get("OPENAI_API_KEY", ""), {}, facts,
                    config, fix='`eval "$(cliproxy env openai)"`')


__all__ = ["check_amp", "check_claude", "check_codex", "check_openai", "same_server"]
