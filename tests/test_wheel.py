"""cliproxy installed the ways a user installs a Python tool, each into a fresh environment of its own
with its dependencies from the package index: the built wheel with ``pipx``, the source tree with
``uv tool install``. Each installed ``cliproxy --version`` names the version and the commit it was
built from, and the installed ``cliproxy serve`` answers ``/healthz``.

The wheel pipx installs is built the way a package index builds one: an sdist from the checkout,
then a wheel from that sdist, where no git repository is beside the sources — so the commit must
come from the file the sdist carries (the build hook's fallback).

Slow for a unit test (two builds, two installs and two servers: about half a minute with a warm
package cache, a few minutes with a cold one): marked ``wheel``; CI runs it with the rest, and
``-m "not wheel"`` leaves it out of a quick local run. pipx and uv are the ``test`` extra's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cliproxy import __version__
from tests.fakes.serving import free_port
from tests.serve_process import wait_for

ROOT = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT = 900  # a cold package cache downloads every dependency
pytestmark = pytest.mark.wheel


def uv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "uv", *args], check=True, timeout=INSTALL_TIMEOUT,
                          capture_output=True, text=True, env=env)


def head_commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, timeout=30)
    return done.stdout.strip()


def clean_environ(**extra: str) -> dict[str, str]:
    """This environment without the test run's own settings (config, import path, virtualenv)."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("CLIPROXY_", "PYTHON", "VIRTUAL_ENV"))}
    return {**kept, **extra}


@pytest.fixture(scope="module")
def wheel_from_sdist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sdist built from the checkout, then the wheel built from the sdist alone."""
    dist = tmp_path_factory.mktemp("dist")
    uv("build", "--sdist", "--out-dir", str(dist), str(ROOT))
    [sdist] = dist.glob("cliproxy-*.tar.gz")
    away_from_git = clean_environ(GIT_CEILING_DIRECTORIES=str(dist.parent))  # no repository above the sources
    uv("build", "--wheel", "--out-dir", str(dist), str(sdist), env=away_from_git)
    [wheel] = dist.glob("cliproxy-*.whl")
    yield wheel


def assert_names_version_and_commit(program: Path, home: Path) -> None:
    version = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=60,
                             env=clean_environ(HOME=str(home)), cwd=home, check=True).stdout
    assert version.startswith(f"cliproxy {__version__} (commit "), version
    if head_commit():
        assert head_commit() in version


def assert_serves(program: Path, home: Path) -> None:
    port = free_port()
    server = subprocess.Popen([str(program), "serve", "--port", str(port)], env=clean_environ(HOME=str(home)),
                              cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def fresh_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def test_the_wheel_carries_the_catalogue_and_the_commit_even_when_built_from_the_sdist(
        wheel_from_sdist: Path) -> None:
    names = zipfile.ZipFile(wheel_from_sdist).namelist()
    assert "cliproxy/data/models.json" in names and "cliproxy/_commit.py" in names
    baked = zipfile.ZipFile(wheel_from_sdist).read("cliproxy/_commit.py").decode()
    assert head_commit() == "" or head_commit() in baked


def test_pipx_installs_the_wheel_which_names_its_build_and_serves(wheel_from_sdist: Path, tmp_path: Path) -> None:
    pipx = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
            "PIPX_MAN_DIR": str(tmp_path / "man"), "PIPX_DEFAULT_PYTHON": sys.executable}
    subprocess.run([sys.executable, "-m", "pipx", "install", str(wheel_from_sdist)], check=True,
                   timeout=INSTALL_TIMEOUT, capture_output=True, env=clean_environ(**pipx))
    program = tmp_path / "bin" / "cliproxy"
    home = fresh_home(tmp_path)
    assert_names_version_and_commit(program, home)
    assert_serves(program, home)


def test_uv_tool_installs_the_source_tree_which_names_its_build_and_serves(tmp_path: Path) -> None:
    tools = clean_environ(UV_TOOL_DIR=str(tmp_path / "tools"), UV_TOOL_BIN_DIR=str(tmp_path / "bin"))
    uv("tool", "install", "--python", sys.executable, str(ROOT), env=tools)
    program = tmp_path / "bin" / "cliproxy"
    home = fresh_home(tmp_path)
    assert_names_version_and_commit(program, home)
    assert_serves(program, home)
