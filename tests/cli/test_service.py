"""``cliproxy service``: the files it writes are ones systemd and launchd accept, they run this
install's ``serve`` with the current config, and ``status`` reads them back. Nothing is started:
``--no-start`` writes only, and the service manager is never called."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cliproxy.cli.main import app


def cli(tmp_path: Path, *args: str) -> Result:
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "CLIPROXY_CONFIG": "",
           "CLIPROXY_AUTH_DIR": str(tmp_path / "my auth %dir")}
    return CliRunner().invoke(app, ["service", *args], env=env, catch_exceptions=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "config.yaml"
    path.parent.mkdir()
    path.write_text("port: 8400\n")
    return path


def test_the_systemd_unit_runs_serve_with_this_config_and_restarts_on_failure(tmp_path: Path, config: Path) -> None:
    result = cli(tmp_path, "install", "--no-start", "--platform", "linux", "--config", str(config))
    assert result.exit_code == 0, result.output
    unit = tmp_path / "xdg" / "systemd" / "user" / "cliproxy.service"
    text = unit.read_text()
    assert f"ExecStart={sys.executable} -m cliproxy serve --config {config}" in text
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert 'Environment="CLIPROXY_AUTH_DIR=' + str(tmp_path / "my auth %%dir") + '"' in text  # quoted, % escaped
    assert "systemctl --user enable --now cliproxy.service" in result.output  # said, not run
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit was checked by its text only")
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    assert "Unknown" not in verify.stderr and "cliproxy.service" not in verify.stderr


def test_the_launchd_agent_is_a_valid_plist_that_logs_to_the_users_library(tmp_path: Path, config: Path) -> None:
    result = cli(tmp_path, "install", "--no-start", "--platform", "macos", "--config", str(config))
    assert result.exit_code == 0, result.output
    path = tmp_path / "home" / "Library" / "LaunchAgents" / "dev.cliproxy.serve.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["ProgramArguments"] == [sys.executable, "-m", "cliproxy", "serve", "--config", str(config)]
    assert agent["KeepAlive"] == {"SuccessfulExit": False} and agent["RunAtLoad"] is True
    log = str(tmp_path / "home" / "Library" / "Logs" / "cliproxy" / "cliproxy.log")
    assert agent["StandardOutPath"] == log and agent["StandardErrorPath"] == log
    assert agent["EnvironmentVariables"]["CLIPROXY_AUTH_DIR"] == str(tmp_path / "my auth %dir")
    assert "launchctl load -w" in result.output


@pytest.mark.parametrize("platform", ["linux", "macos"])
def test_status_reads_the_service_back_and_uninstall_removes_it(tmp_path: Path, config: Path,
                                                                 platform: str) -> None:
    assert cli(tmp_path, "status", "--platform", platform).exit_code == 1  # nothing installed yet
    cli(tmp_path, "install", "--no-start", "--platform", platform, "--config", str(config))
    status = cli(tmp_path, "status", "--platform", platform)
    assert status.exit_code == 0
    assert f"runs: {sys.executable} -m cliproxy serve --config {config}" in status.output
    assert "state: " in status.output
    removed = cli(tmp_path, "uninstall", "--no-stop", "--platform", platform)
    assert removed.exit_code == 0 and "removed" in removed.output
    assert cli(tmp_path, "status", "--platform", platform).exit_code == 1
