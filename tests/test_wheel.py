"""The built wheel, installed as a user installs it (a fresh virtual environment, dependencies from
the package index): it carries the model catalogue and the commit it was built from, ``cliproxy
--version`` names both, and ``cliproxy serve`` answers ``/healthz``.

Slow (a build and an install, about a minute): marked ``wheel``; CI runs it with the rest
(``-m "not wheel"`` leaves it out of a quick local run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from cliproxy import __version__
from tests.fakes.serving import free_port
from tests.serve_process import wait_for

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.wheel


def build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(out), "-q"],
                   check=True, timeout=600, capture_output=True)
    [wheel] = out.glob("cliproxy-*.whl")
    return wheel


def head_commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, timeout=30)
    return done.stdout.strip()


def test_the_installed_wheel_names_its_version_and_commit_and_serves(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cliproxy/data/models.json" in names and "cliproxy/_commit.py" in names
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CLIPROXY_", "PYTHON"))}
    subprocess.run([str(env_dir / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=900,
                   capture_output=True, env=clean)
    home = tmp_path / "home"
    home.mkdir()
    clean["HOME"] = str(home)
    version = subprocess.run([str(env_dir / "bin" / "cliproxy"), "--version"], capture_output=True, text=True,
                             timeout=60, env=clean, cwd=tmp_path, check=True).stdout
    assert version.startswith(f"cliproxy {__version__} (commit ")
    if head_commit():
        assert head_commit() in version
    port = free_port()
    server = subprocess.Popen([str(env_dir / "bin" / "cliproxy"), "serve", "--port", str(port)], env=clean,
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def healthy() -> bool:
            try:
                return bool(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json() == {"status": "ok"})
            except httpx.TransportError:
                return False

        wait_for(healthy, "the installed server to answer /healthz", deadline=60)
    finally:
        server.terminate()
        server.wait(timeout=20)
