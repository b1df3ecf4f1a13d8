"""Bake the git commit into a built wheel, so an installed ``cliproxy --version`` can name it.

A checkout answers with ``git describe`` at run time; an installed wheel has no repository beside
it, so the build writes ``cliproxy/_commit.py`` into the wheel (and the sdist, so a wheel built from
the sdist keeps the commit). An editable install reads git at run time and gets no file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

GENERATED = "src/cliproxy/_commit.py"


def _describe(root: str) -> str:
    try:
        done = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty", "--abbrev=12"],
                              capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


class CommitHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "editable":
            return
        commit = _describe(self.root)
        existing = Path(self.root, GENERATED)
        if not commit:  # building from an sdist: keep the file it carries
            if existing.is_file():
                build_data["force_include"][str(existing)] = self._destination()
            return
        self._temp = tempfile.mkdtemp(prefix="cliproxy-build-")
        generated = Path(self._temp, "_commit.py")
        generated.write_text(f'"""Written by the build."""\n\nCOMMIT = "{commit}"\n')
        build_data["force_include"][str(generated)] = self._destination()

    def _destination(self) -> str:
        return "cliproxy/_commit.py" if self.target_name == "wheel" else GENERATED

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        temp = getattr(self, "_temp", None)
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
