"""``cliproxy setup CLIENT [--write]`` and ``cliproxy env CLIENT`` in a temporary HOME, as a new user
runs them: the client's files merged with the user's own settings kept, a backup and a diff first,
nothing changed on a second run, and exports that a real shell accepts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cliproxy.cli.main import app
from tests.fakes.codex_backend import FakeCodex
from tests.serve_process import run_configured

KEY = "sk-local-0123456789abcdef"


def cli(home: Path, *args: str, input: str | None = None, **env: str) -> Result:
    environ = {"HOME": str(home), "CODEX_HOME": "", "CLAUDE_CONFIG_DIR": "", "XDG_CONFIG_HOME": "", "XDG_DATA_HOME": "",
               "CLIPROXY_CONFIG": "", "CLIPROXY_AUTH_DIR": "", **env}
    return CliRunner().invoke(app, list(args), input=input, env=environ, catch_exceptions=False)


def claude_env(home: Path) -> dict[str, Any]:
    env: dict[str, Any] = json.loads((home / ".claude" / "settings.json").read_text())["env"]
    return env


def codex_config(home: Path) -> dict[str, Any]:
    return tomllib.loads((home / ".codex" / "config.toml").read_text())


def amp_settings(home: Path) -> dict[str, Any]:
    settings: dict[str, Any] = json.loads((home / ".config" / "amp" / "settings.json").read_text())
    return settings


def check_claude(home: Path, url: str) -> None:
    env = claude_env(home)
    assert env["ANTHROPIC_BASE_URL"] == url and env["ANTHROPIC_AUTH_TOKEN"] == KEY
    assert (env["ANTHROPIC_DEFAULT_OPUS_MODEL"], env["ANTHROPIC_DEFAULT_SONNET_MODEL"],
            env["ANTHROPIC_DEFAULT_HAIKU_MODEL"]) == ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini")
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "272000"
    overrides = json.loads((home / ".claude" / "settings.json").read_text())["modelOverrides"]
    assert {overrides[claude_id] for claude_id in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5")} == {
        "gpt-5.5", "gpt-5.4", "gpt-5.4-mini"}


def check_codex(home: Path, url: str) -> None:
    config = codex_config(home)
    assert config["model_provider"] == "cliproxy" and config["model"] == "gpt-5.5"
    assert config["model_providers"]["cliproxy"] == {
        "name": "cliproxy", "base_url": url + "/v1", "wire_api": "responses", "experimental_bearer_token": KEY,
        "supports_websockets": True, "model_catalog_url": url + "/v1/models"}


def amp_secrets(home: Path) -> Path:
    return home / ".local" / "share" / "amp" / "secrets.json"


def check_amp(home: Path, url: str) -> None:
    assert amp_settings(home)["amp.url"] == url
    assert json.loads(amp_secrets(home).read_text())[f"apiKey@{url}"] == KEY  # where `amp login` keeps it
    assert amp_secrets(home).stat().st_mode & 0o777 == 0o600


CLIENTS: dict[str, tuple[str, Callable[[Path, str], None], str, Callable[[str], bool]]] = {
    # client: (file under HOME, check, the user's own file, what of it must survive)
    "claude": (".claude/settings.json", check_claude,
               '{\n  "theme": "dark",\n  "env": {"MY_VAR": "1"},\n  "modelOverrides": {"claude-opus-4-6": "mine"}\n}\n',
               lambda text: json.loads(text)["theme"] == "dark" and json.loads(text)["env"]["MY_VAR"] == "1"
               and json.loads(text)["modelOverrides"]["claude-opus-4-6"] == "mine"),
    "codex": (".codex/config.toml", check_codex,
              '# my own comment\nmodel = "o3"\n\n[tui]\nnotifications = true  # keep me\n',
              lambda text: "# my own comment" in text and "notifications = true  # keep me" in text),
    "amp": (".config/amp/settings.json", check_amp,
            '{"amp.notifications.enabled": false}\n',
            lambda text: json.loads(text)["amp.notifications.enabled"] is False),
}


@pytest.mark.parametrize("client", list(CLIENTS))
def test_write_on_an_empty_home_creates_the_file_and_a_second_run_changes_nothing(
        home: Path, nowhere: str, client: str) -> None:
    relative, check, _, _ = CLIENTS[client]
    first = cli(home, "setup", client, "--write", "--yes", "--url", nowhere, "--key", KEY)
    assert first.exit_code == 0, first.output
    path = home / relative
    assert f"+++ {path}" in first.output and "/dev/null" in first.output  # the diff came first
    check(home, nowhere)
    assert path.stat().st_mode & 0o777 == 0o600  # it may hold the key
    written = path.read_text()
    again = cli(home, "setup", client, "--write", "--yes", "--url", nowhere, "--key", KEY)
    assert again.exit_code == 0 and "already points at this server" in again.output
    assert path.read_text() == written and not list(path.parent.glob("*.bak-*"))


@pytest.mark.parametrize("client", list(CLIENTS))
def test_write_keeps_the_users_settings_backs_them_up_and_shows_the_diff(home: Path, nowhere: str,
                                                                         client: str) -> None:
    relative, check, own, survives = CLIENTS[client]
    path = home / relative
    path.parent.mkdir(parents=True)
    path.write_text(own)
    result = cli(home, "setup", client, "--write", "--url", nowhere, "--key", KEY, input="y\ny\ny\n")  # one per file
    assert result.exit_code == 0, result.output
    assert f"--- {path}" in result.output and "Write " in result.output  # diff, then the question
    assert KEY not in result.output  # the diff masks the key
    check(home, nowhere)
    assert survives(path.read_text())
    [backup] = path.parent.glob(f"{path.name}.bak-*")
    assert backup.read_text() == own and str(backup) in result.output
    again = cli(home, "setup", client, "--write", "--url", nowhere, "--key", KEY)
    assert "already points at this server" in again.output and len(list(path.parent.glob("*.bak-*"))) == 1


def test_amp_keeps_the_users_own_ampcode_key_beside_ours(home: Path, nowhere: str) -> None:
    secrets = amp_secrets(home)
    secrets.parent.mkdir(parents=True)
    secrets.write_text('{"apiKey@https://ampcode.com/": "sgamp_user_own_key_0123456789"}')
    result = cli(home, "setup", "amp", "--write", "--yes", "--url", nowhere, "--key", KEY)
    assert result.exit_code == 0, result.output
    assert "sgamp_user_own_key_0123456789" not in result.output  # any secret in the diff is masked
    stored = json.loads(secrets.read_text())
    assert stored == {"apiKey@https://ampcode.com/": "sgamp_user_own_key_0123456789", f"apiKey@{nowhere}": KEY}


def test_answering_no_writes_nothing(home: Path, nowhere: str) -> None:
    result = cli(home, "setup", "claude", "--write", "--url", nowhere, input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert not (home / ".claude").exists()


def test_a_file_that_is_not_json_is_left_alone_with_a_reason(home: Path, nowhere: str) -> None:
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text("{ not json")
    result = cli(home, "setup", "claude", "--write", "--yes", "--url", nowhere)
    assert result.exit_code == 1 and "not valid JSON" in result.output
    assert path.read_text() == "{ not json"


def test_codex_home_and_the_users_served_model_are_honoured(home: Path, nowhere: str, tmp_path: Path) -> None:
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text('model = "gpt-5.4"\n')
    result = cli(home, "setup", "codex", "--write", "--yes", "--url", nowhere, CODEX_HOME=str(codex_home))
    assert result.exit_code == 0, result.output
    config = tomllib.loads((codex_home / "config.toml").read_text())
    assert config["model"] == "gpt-5.4" and config["model_provider"] == "cliproxy"  # a served model is kept
    assert not (home / ".codex").exists()


def test_without_write_it_prints_the_configuration_and_touches_nothing(home: Path, nowhere: str) -> None:
    result = cli(home, "setup", "claude", "--url", nowhere, "--key", KEY)
    assert result.exit_code == 0
    assert '"ANTHROPIC_DEFAULT_OPUS_MODEL": "gpt-5.5"' in result.output and "--write" in result.output
    assert not (home / ".claude").exists()


def test_cursor_gets_its_base_url_and_the_tunnel_warning_and_nothing_is_written(home: Path, nowhere: str) -> None:
    result = cli(home, "setup", "cursor", "--write", "--url", nowhere, "--key", KEY)
    assert result.exit_code == 0
    assert f"{nowhere}/v1" in result.output and "tunnel" in result.output and "Nothing to write" in result.output
    assert sorted(p.name for p in home.iterdir()) == []


@pytest.fixture
def served(tmp_path: Path, fake: FakeCodex) -> Iterator[str]:
    """A running server whose only model is an alias, so a list taken from it is recognisable."""
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    config = (f"api-keys: [{KEY}]\ncodex-api-key:\n  - api-key: upstream-key\n    base-url: {upstream}\n"
              "    models:\n      - name: gpt-5.4\n        alias: team-model\n")
    with run_configured(tmp_path, upstream, config) as proxy:
        yield proxy.url


def test_models_and_key_come_from_the_running_server_and_its_config(home: Path, tmp_path: Path,
                                                                    served: str) -> None:
    result = cli(home, "setup", "claude", "--write", "--yes", "--url", served,
                 "--config", str(tmp_path / "conf" / "config.yaml"))
    assert result.exit_code == 0, result.output
    assert "served by the running server" in result.output
    env = claude_env(home)
    assert env["ANTHROPIC_AUTH_TOKEN"] == KEY
    assert {env[f"ANTHROPIC_DEFAULT_{family}_MODEL"] for family in ("OPUS", "SONNET", "HAIKU")} == {"team-model"}


# ---- env: exports a real shell accepts ---------------------------------------------------------------

def sourced(script: str, then: str, path: str | None = None) -> str:
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    done = subprocess.run(["bash", "-c", f'eval "$(cat)"\n{then}'], input=script, capture_output=True, text=True,
                          env=env, timeout=30, check=True)
    return done.stdout


def test_env_for_claude_is_sourced_by_bash(home: Path, nowhere: str) -> None:
    key = "k'ey with \"quotes\" $HOME"  # survives quoting untouched
    result = cli(home, "env", "claude", "--shell", "bash", "--url", nowhere, "--key", key)
    assert result.exit_code == 0
    shown = sourced(result.output, 'printf "%s|%s|%s" "$ANTHROPIC_BASE_URL" "$ANTHROPIC_AUTH_TOKEN" '
                                   '"$ANTHROPIC_DEFAULT_HAIKU_MODEL"')
    assert shown == f"{nowhere}|{key}|gpt-5.4-mini"


def test_env_for_codex_defines_a_function_that_passes_the_provider(home: Path, nowhere: str,
                                                                   tmp_path: Path) -> None:
    """Codex takes no base URL from the environment: the function hands ``-c`` overrides to the real
    ``codex`` (here a stand-in that prints what it got)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "codex"
    stand_in.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    stand_in.chmod(0o755)
    result = cli(home, "env", "codex", "--shell", "bash", "--url", nowhere, "--key", KEY)
    args = sourced(result.output, "codex exec hi", path=f"{bin_dir}:{os.environ['PATH']}").splitlines()
    assert args[-2:] == ["exec", "hi"] and 'model_provider="cliproxy"' in args
    provider = next(a for a in args if a.startswith("model_providers.cliproxy="))
    parsed = tomllib.loads("p = " + provider.split("=", 1)[1])["p"]
    assert parsed["base_url"] == nowhere + "/v1" and parsed["experimental_bearer_token"] == KEY


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_env_for_fish_is_sourced_by_fish(home: Path, nowhere: str) -> None:
    result = cli(home, "env", "openai", "--shell", "fish", "--url", nowhere, "--key", KEY)
    done = subprocess.run(["fish", "-c", "eval (cat | string collect); printf %s $OPENAI_BASE_URL"],
                          input=result.output, capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout == nowhere + "/v1"


def test_env_for_cursor_says_there_is_nothing_to_export(home: Path, nowhere: str) -> None:
    result = cli(home, "env", "cursor", "--shell", "zsh", "--url", nowhere)
    assert result.exit_code == 0 and sourced(result.output, "echo done") == "done\n"
    assert "cliproxy setup cursor" in result.output
