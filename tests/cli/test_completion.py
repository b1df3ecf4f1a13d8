"""Shell completion: the script ``cliproxy completion`` prints loads in bash, and the program completes
command and client names through it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def cliproxy(*args: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cliproxy", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env}, check=True)
    return done.stdout


def test_the_bash_script_loads_and_registers_the_completion() -> None:
    script = cliproxy("completion", "bash")
    done = subprocess.run(["bash", "-c", 'eval "$(cat)"; complete -p cliproxy'], input=script, capture_output=True,
                          text=True, timeout=30, check=True)
    assert "_cliproxy_completion" in done.stdout


@pytest.mark.parametrize(("words", "expected"), [("cliproxy doc", "doctor"), ("cliproxy setup cl", "claude"),
                                                 ("cliproxy env codex --shell fi", "fish")])
def test_names_complete(words: str, expected: str) -> None:
    answer = cliproxy(_CLIPROXY_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1))
    assert f"plain,{expected}" in answer.splitlines()


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_the_program(shell: str) -> None:
    assert "_CLIPROXY_COMPLETE" in cliproxy("completion", shell)
