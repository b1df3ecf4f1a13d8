"""``cliproxy setup amp`` gives the Claude models Amp asks for a home in the pool: it adds the
``ampcode.model-mappings`` that are missing to cliproxy's own config, keeping the user's entries and
comments, and the running server then serves Amp's default mode without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest
from ruamel.yaml import YAML

from cliproxy.amp.mapping import ModelMapper
from cliproxy.config.load import load_config
from tests.cli.test_setup import KEY, cli
from tests.fakes.codex_backend import FakeCodex
from tests.helpers import write_account
from tests.serve_process import run_configured, wait_for

USER: list[Any] = [{"role": "user", "content": "hi"}]
OPUS, HAIKU = "claude-opus-4-6", "claude-haiku-4-5-20251001"  # what classic Amp's smart and rush modes ask for
USER_CONFIG = f"""# my proxy
api-keys: [{KEY}]  # the key Amp sends
ampcode:
  # opus goes to my favourite
  model-mappings:
    - {{from: "^claude-opus-4", to: gpt-5.4, regex: true}}  # mine, keep it
port: 8400
"""


def mappings(path: Path) -> list[dict[str, Any]]:
    """The mappings the server reads from the file (flat legacy keys lifted, as it loads them)."""
    config, _ = load_config(path, environ={})
    return [{"from": m.from_, "to": m.to, "regex": m.regex} for m in config.ampcode.model_mappings]


def target(path: Path, name: str) -> str:
    """The model the config maps ``name`` to (the first regex entry that matches it)."""
    return next(str(m["to"]) for m in mappings(path) if m["regex"] and name.startswith(m["from"].lstrip("^")))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "config.yaml"
    path.parent.mkdir()
    path.write_text(USER_CONFIG)
    return path


def setup_amp(home: Path, url: str, config: Path, *more: str) -> str:
    result = cli(home, "setup", "amp", "--url", url, "--key", KEY, "--config", str(config), *more)
    assert result.exit_code == 0, result.output
    return result.output


def amp_anthropic(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url + "/api/provider/anthropic", api_key=KEY, max_retries=0)


def served_as(url: str, model: str) -> str | None:
    """The model name Amp's answer carries, or None while the server still refuses ``model``."""
    try:
        return amp_anthropic(url).messages.create(model=model, max_tokens=50, messages=USER).model
    except anthropic.NotFoundError:
        return None


def test_a_running_server_serves_amps_claude_models_after_setup_without_a_restart(
        home: Path, tmp_path: Path, fake: FakeCodex) -> None:
    write_account(tmp_path / "auth", "a", "tok-a", "acc-1")
    upstream = fake.url + "/backend-api/codex"  # type: ignore[attr-defined]
    with run_configured(tmp_path, upstream, f"# my own comment\napi-keys: [{KEY}]\n") as proxy:
        with pytest.raises(anthropic.NotFoundError, match="model-mappings"):  # Amp's default mode, before
            amp_anthropic(proxy.url).messages.create(model=OPUS, max_tokens=50, messages=USER)
        path = tmp_path / "conf" / "config.yaml"
        output = setup_amp(home, proxy.url, path, "--write", "--yes")
        assert "served by the running server" in output and "no restart is needed" in output
        assert wait_for(lambda: served_as(proxy.url, OPUS), "the mappings to apply") == OPUS
        assert fake.inference_requests()[-1].body["model"] == target(path, "claude-opus")
        assert served_as(proxy.url, HAIKU) == HAIKU
        assert fake.inference_requests()[-1].body["model"] == target(path, "claude-haiku")
    assert "# my own comment" in path.read_text()


def test_the_users_mapping_is_kept_byte_for_byte_and_only_the_missing_families_are_added(
        home: Path, nowhere: str, config: Path) -> None:
    output = setup_amp(home, nowhere, config, "--write", "--yes")
    text = config.read_text()
    assert text.startswith(USER_CONFIG.split("port:")[0])  # every line of the user's, as written, comments too
    assert text.endswith("port: 8400\n")
    assert mappings(config) == [
        {"from": "^claude-opus-4", "to": "gpt-5.4", "regex": True},
        {"from": "^claude-sonnet", "to": "gpt-5.4", "regex": True},
        {"from": "^claude-haiku", "to": "gpt-5.4-mini", "regex": True}]
    assert f"{OPUS} is already mapped to gpt-5.4: kept" in output
    assert KEY not in output  # the config's key, in the diff's context lines, is masked
    [backup] = config.parent.glob("config.yaml.bak-*")
    assert backup.read_text() == USER_CONFIG


def test_a_second_run_changes_nothing(home: Path, nowhere: str, config: Path) -> None:
    setup_amp(home, nowhere, config, "--write", "--yes")
    written = config.read_text()
    again = setup_amp(home, nowhere, config, "--write", "--yes")
    assert f"{config} already maps Amp's Claude models" in again
    assert config.read_text() == written and len(list(config.parent.glob("config.yaml.bak-*"))) == 1


def test_a_config_without_mappings_gets_all_three_from_the_catalogue_when_no_server_answers(
        home: Path, nowhere: str, config: Path) -> None:
    config.write_text(f"# top comment\napi-keys: [{KEY}]\n\n# Amp goes to ampcode.com for the rest\nampcode:\n"
                      "  upstream-url: https://ampcode.com  # my credits\n")
    output = setup_amp(home, nowhere, config, "--write", "--yes")
    assert [(m["from"], m["to"]) for m in mappings(config)] == [
        ("^claude-opus", "gpt-5.5"), ("^claude-sonnet", "gpt-5.4"), ("^claude-haiku", "gpt-5.4-mini")]
    assert "the bundled catalogue" in output
    assert "served by this pool instead of ampcode.com" in output  # the user pays with Amp credits otherwise
    text = config.read_text()
    assert "# top comment" in text and "# Amp goes to ampcode.com for the rest" in text and "# my credits" in text


def test_old_flat_mappings_get_the_missing_families_where_the_server_reads_them(
        home: Path, nowhere: str, config: Path) -> None:
    """A new ``ampcode.model-mappings`` would hide the old ``amp-model-mappings`` list: extend that one."""
    config.write_text(f"api-keys: [{KEY}]\namp-model-mappings:\n  - {{from: ^claude-opus, to: gpt-5.4, regex: true}}\n")
    setup_amp(home, nowhere, config, "--write", "--yes")
    assert [m["from"] for m in mappings(config)] == ["^claude-opus", "^claude-sonnet", "^claude-haiku"]
    assert "ampcode" not in YAML().load(config.read_text())


def test_without_write_or_with_no_mappings_the_config_is_untouched(home: Path, nowhere: str, config: Path) -> None:
    shown = setup_amp(home, nowhere, config)
    assert '{from: "^claude-haiku", to: gpt-5.4-mini, regex: true}' in shown and "^claude-opus" not in shown
    skipped = setup_amp(home, nowhere, config, "--write", "--yes", "--no-mappings")
    assert "ampcode.model-mappings" in skipped and str(config) not in skipped  # a hint, no edit
    assert config.read_text() == USER_CONFIG and (home / ".config" / "amp" / "settings.json").exists()


def test_a_users_mapping_to_a_model_not_served_is_kept_and_said(home: Path, nowhere: str, config: Path) -> None:
    config.write_text(USER_CONFIG.replace("to: gpt-5.4,", "to: gpt-4-retired,"))
    output = setup_amp(home, nowhere, config, "--write", "--yes")
    assert f"{OPUS} is already mapped to gpt-4-retired: kept (gpt-4-retired is not served here" in output
    assert mappings(config)[0] == {"from": "^claude-opus-4", "to": "gpt-4-retired", "regex": True}


def test_an_exact_mapping_for_one_opus_version_keeps_winning_and_the_others_get_the_family_entry(
        home: Path, nowhere: str, config: Path) -> None:
    """Classic Amp builds ask for more than one Opus version; the user's exact entry covers only its own."""
    config.write_text(f"api-keys: [{KEY}]\nampcode:\n  model-mappings:\n    - {{from: {OPUS}, to: gpt-5.4}}\n")
    output = setup_amp(home, nowhere, config, "--write", "--yes")
    assert f"{OPUS} is already mapped to gpt-5.4: kept" in output and "win over the added ones" in output
    loaded, _ = load_config(config, environ={})
    mapper = ModelMapper.build(loaded.ampcode.model_mappings, warn=print)
    assert mapper.lookup(OPUS, lambda _: True) == "gpt-5.4"  # the user's, still
    assert mapper.lookup("claude-opus-4-7", lambda _: True) == "gpt-5.5"
    assert [m["from"] for m in mappings(config)] == [OPUS, "^claude-opus", "^claude-sonnet", "^claude-haiku"]
