"""The files that run ``cliproxy serve`` as a user service: a systemd user unit on Linux, a launchd
agent on macOS. Pure text and paths, so tests check them without starting anything.

Both run this very interpreter (``python -m cliproxy``), so the service keeps working for an
install made with pipx, ``uv tool`` or a venv, and both restart the server when it fails.
Logs go where each platform keeps them: the user journal (``journalctl --user -u cliproxy``),
and ``~/Library/Logs/cliproxy/`` on macOS.
"""

from __future__ import annotations

import plistlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

UNIT_NAME = "cliproxy.service"
AGENT_LABEL = "dev.cliproxy.serve"
# The config overrides the server reads from its environment: the service gets the ones set now.
PASSED_VARIABLES = ("CLIPROXY_CODEX_BASE_URL", "CLIPROXY_OAUTH_ISSUER", "CLIPROXY_AUTH_DIR")


@dataclass(frozen=True)
class ServiceFile:
    platform: str  # "linux" or "macos"
    path: Path
    text: str
    start: tuple[tuple[str, ...], ...]  # the commands that load and start it
    stop: tuple[tuple[str, ...], ...]
    logs: str  # where to read its log, said to the user


def passed_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in PASSED_VARIABLES if environ.get(name)}


def _systemd_word(word: str) -> str:
    """One ExecStart argument: ``%`` doubled (a specifier otherwise), quoted when it holds a space."""
    word = word.replace("%", "%%")
    if any(c in word for c in " \t\"'\\"):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def systemd_unit(command: Sequence[str], environment: Mapping[str, str]) -> str:
    lines = ["[Unit]", "Description=cliproxy: local OpenAI / Anthropic / Gemini API server", "",
             "[Service]", "Type=simple", "ExecStart=" + " ".join(_systemd_word(w) for w in command),
             "Restart=on-failure", "RestartSec=5", "Environment=PYTHONUNBUFFERED=1"]
    lines += [f"Environment={_systemd_word(f'{k}={v}')}" for k, v in environment.items()]
    lines += ["", "[Install]", "WantedBy=default.target", ""]
    return "\n".join(lines)


def launchd_plist(command: Sequence[str], environment: Mapping[str, str], log_dir: Path) -> str:
    agent = {
        "Label": AGENT_LABEL,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart after a failure, not after a clean stop
        "ThrottleInterval": 5,
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1", **environment},
        "StandardOutPath": str(log_dir / "cliproxy.log"),
        "StandardErrorPath": str(log_dir / "cliproxy.log"),
    }
    return plistlib.dumps(agent).decode()


def service_file(platform: str, command: Sequence[str], home: Path, environ: Mapping[str, str]) -> ServiceFile:
    """The file for ``platform`` in this user's place for it (``$XDG_CONFIG_HOME`` moves the unit)."""
    environment = passed_environment(environ)
    if platform == "macos":
        log_dir = home / "Library" / "Logs" / "cliproxy"
        path = home / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
        return ServiceFile("macos", path, launchd_plist(command, environment, log_dir),
                           (("launchctl", "load", "-w", str(path)),), (("launchctl", "unload", "-w", str(path)),),
                           str(log_dir / "cliproxy.log"))
    config_home = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else home / ".config"
    path = config_home / "systemd" / "user" / UNIT_NAME
    start = (("systemctl", "--user", "daemon-reload"), ("systemctl", "--user", "enable", "--now", UNIT_NAME))
    return ServiceFile("linux", path, systemd_unit(command, environment), start,
                       (("systemctl", "--user", "disable", "--now", UNIT_NAME),), f"journalctl --user -u {UNIT_NAME}")


def read_command(platform: str, text: str) -> str:
    """The command an installed file runs, read back from it."""
    if platform == "macos":
        return " ".join(plistlib.loads(text.encode()).get("ProgramArguments", []))
    return next((line.removeprefix("ExecStart=") for line in text.splitlines() if line.startswith("ExecStart=")), "")


__all__ = ["AGENT_LABEL", "UNIT_NAME", "ServiceFile", "launchd_plist", "read_command", "service_file",
           "systemd_unit"]
